"""Web fetch: HTTP GET with size and time limits, HTML to text, and no way into private networks.

SSRF defence: only http(s) URLs; the host name is resolved here and EVERY address it resolves to
must be globally reachable unicast (`ipaddress`' own `is_global`, so the IANA special-purpose
registries decide, not a hand list) unless WEB_FETCH_ALLOWLIST names the host or a network holding
the address. An IPv6 address that carries an IPv4 address (NAT64, IPv4-compatible, -mapped or
-translated, 6to4, Teredo) must also carry a public one: `[64:ff9b::7f00:1]` is loopback.
The connection then goes to the address that was checked (Host header and TLS SNI keep the
name), so a second DNS answer cannot swap in another address (DNS rebinding). Redirects are
followed by hand, each hop checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Annotated

import httpx
from pydantic import Field
from pydantic_ai import FunctionToolset, ModelRetry, RunContext

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.tools.limits import TOOL_RETRIES

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024
FETCH_TIMEOUT_S = 15.0
MAX_REDIRECTS = 5
DEFAULT_CHARS = 20_000
MAX_CHARS = 100_000
USER_AGENT = "edgeagent-web-fetch/1.0"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")


class FetchRefused(ValueError):
    """The URL is not allowed (scheme or address)."""


class FetchFailed(RuntimeError):
    """The fetch did not complete (DNS, connection, timeout, size, content type)."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Hosts and networks web fetch may reach although they are not public."""

    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, raw: str) -> Allowlist:
        """From WEB_FETCH_ALLOWLIST: comma-separated host names, IPs and CIDRs."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in filter(None, (part.strip() for part in raw.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: IPAddress) -> bool:
        """Whether the allowlist names this host or a network holding this address."""
        return host in self.hosts or any(address in network for network in self.networks)


# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at.
_IPV4_IN_LAST_32_BITS = (
    ("NAT64", ipaddress.IPv6Network("64:ff9b::/96")),  # RFC 6052 well-known prefix
    ("IPv4-compatible", ipaddress.IPv6Network("::/96")),  # RFC 4291 2.5.5.1 (deprecated)
    ("IPv4-mapped", ipaddress.IPv6Network("::ffff:0:0/96")),  # RFC 4291 2.5.5.2
    ("IPv4-translated", ipaddress.IPv6Network("::ffff:0:0:0/96")),  # RFC 2765 SIIT
)
# RFC 8215 local-use NAT64: where the IPv4 address sits depends on the operator's prefix length,
# and the prefix is never globally reachable. Python < 3.12.4 still calls it global.
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """Every (form, IPv4 address) this IPv6 address carries."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    last_32 = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if int(address) > 1:  # :: and ::1 are themselves (unspecified, loopback), not IPv4-compatible
        found.extend((form, last_32) for form, net in _IPV4_IN_LAST_32_BITS if address in net)
    if address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        found.extend([("Teredo server", server), ("Teredo client", client)])
    return found


def _kind(address: IPAddress) -> str | None:
    """What makes `address` a non-public destination, or None for global unicast."""
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address in NAT64_LOCAL_USE:
        return "local-use NAT64 (RFC 8215)"
    if address.is_global:
        return None
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    return "reserved or shared, not globally reachable"


def refusal(address: IPAddress) -> str | None:
    """Why web fetch must not connect to `address` (a phrase for the error), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        for form, inner in embedded_ipv4(address):
            inner_kind = _kind(inner)
            if inner_kind is not None:
                return f"{form} of {inner}, {_article(inner_kind)} {inner_kind} address"
    kind = _kind(address)
    return None if kind is None else f"{_article(kind)} {kind} address"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def is_public(address: IPAddress) -> bool:
    """Globally reachable unicast, and so is every IPv4 address it carries."""
    return refusal(address) is None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: the address to connect to, and the name it stands for."""

    url: httpx.URL
    host: str
    address: IPAddress


@dataclass(frozen=True, slots=True)
class Page:
    """What a fetch returns to the model."""

    url: str
    status: int
    content_type: str
    text: str
    truncated: bool


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # gaierror is an OSError; IDNA errors are not
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise FetchFailed(f"cannot resolve {host!r}: {reason}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


async def check_url(raw: str, allowlist: Allowlist) -> Target:
    """The URL's checked connection target, or FetchRefused saying why not."""
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as error:
        raise FetchRefused(f"invalid URL {raw!r}: {error}") from None
    if url.scheme not in {"http", "https"}:
        raise FetchRefused(f"only http and https URLs can be fetched, not {url.scheme or 'none'!r}")
    host = url.host.lower().rstrip(".")
    if not host:
        raise FetchRefused(f"URL {raw!r} has no host")
    if url.userinfo:
        raise FetchRefused("URLs with credentials (user:password@) are not fetched")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not addresses:
        raise FetchFailed(f"{host!r} resolved to no address")
    for address in addresses:
        why = refusal(address)
        if why is not None and not allowlist.permits(host, address):
            raise FetchRefused(
                f"{host} resolves to {address}, {why}; add it to WEB_FETCH_ALLOWLIST to allow it"
            )
    return Target(url, host, addresses[0])


def html_to_text(html: str) -> str:
    """Readable text of an HTML page: title first, scripts and styles dropped, blank runs folded."""
    from bs4 import BeautifulSoup  # on first use: ~0.2 s, a sixth of a runtime start

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    lines = [" ".join(line.split()) for line in soup.get_text("\n").splitlines()]
    body = "\n".join(line for line in lines if line)
    return f"# {title}\n\n{body}" if title else body


class WebFetcher:
    """GETs public pages; owns its HTTP client (no proxies from the environment)."""

    def __init__(
        self,
        allowlist: Allowlist,
        *,
        timeout_s: float = FETCH_TIMEOUT_S,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        self.allowlist = allowlist
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            headers={"User-Agent": USER_AGENT},
        )

    async def fetch(self, raw_url: str, max_chars: int = DEFAULT_CHARS) -> Page:
        """The page as text; FetchRefused for a forbidden URL, FetchFailed when it cannot load."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._fetch(raw_url, max_chars)
        except TimeoutError:
            raise FetchFailed(f"no complete answer within {self._timeout_s:g} s") from None

    async def _fetch(self, raw_url: str, max_chars: int) -> Page:
        url = raw_url
        for _ in range(MAX_REDIRECTS + 1):
            target = await check_url(url, self.allowlist)
            status, headers, body, cut = await self._get(target)
            location = headers.get("location")
            if status in {301, 302, 303, 307, 308} and location:
                url = str(target.url.join(location))
                continue
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            text = _decode(body, headers, content_type)
            truncated = cut or len(text) > max_chars
            return Page(str(target.url), status, content_type, text[:max_chars], truncated)
        raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")

    async def _get(self, target: Target) -> tuple[int, httpx.Headers, bytes, bool]:
        pinned = target.url.copy_with(host=str(target.address))
        host_header = target.url.netloc.decode("ascii").rsplit("@", 1)[-1]
        request = self._client.build_request(
            "GET",
            pinned,
            headers={"Host": host_header},
            extensions={"sni_hostname": target.host},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            raise FetchFailed(f"{target.host}: {type(error).__name__}: {error}") from None
        try:
            body = bytearray()
            cut = False
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    del body[self._max_bytes :]
                    cut = True
                    break
        except httpx.HTTPError as error:
            raise FetchFailed(f"{target.host}: {type(error).__name__}: {error}") from None
        finally:
            await response.aclose()
        return response.status_code, response.headers, bytes(body), cut

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def _decode(body: bytes, headers: httpx.Headers, content_type: str) -> str:
    if content_type and not content_type.startswith(_TEXT_TYPES):
        raise FetchFailed(f"content type {content_type!r} is not text; only pages are fetched")
    charset = httpx.Response(200, headers=headers).charset_encoding or "utf-8"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    if content_type in {"text/html", "application/xhtml+xml"} or (
        not content_type and "<html" in text[:1000].lower()
    ):
        return html_to_text(text)
    return text


Url = Annotated[str, Field(min_length=1, max_length=2048)]
Chars = Annotated[int, Field(ge=100, le=MAX_CHARS)]


def web_toolset(fetcher: WebFetcher) -> FunctionToolset[AgentDeps]:
    """fetch_url over `fetcher`."""
    toolset: FunctionToolset[AgentDeps] = FunctionToolset(id="web", max_retries=TOOL_RETRIES)

    @toolset.tool
    async def fetch_url(
        ctx: RunContext[AgentDeps], url: Url, max_chars: Chars = DEFAULT_CHARS
    ) -> str:
        """Fetch a public web page (HTTP GET) and return its readable text.

        Args:
            url: an http:// or https:// URL.
            max_chars: at most this many characters of text are returned.
        """
        try:
            page = await fetcher.fetch(url, max_chars)
        except FetchRefused as error:
            raise ModelRetry(f"refused: {error}") from None
        except FetchFailed as error:
            return f"fetch failed: {error}"
        note = "\n…(truncated)" if page.truncated else ""
        return f"URL: {page.url}\nHTTP {page.status} {page.content_type}\n\n{page.text}{note}"

    return toolset
