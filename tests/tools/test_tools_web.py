"""Web fetch: SSRF refusals (schemes, every private form of address, redirects, DNS answers),
limits, HTML to text, and the tool driven by a model — against a page served on loopback."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from tools_support import LoopbackSite, Script, deps_for, loopback_site, redirect, run_script, send

from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools import web
from agent.runtime.tools.web import (
    Allowlist,
    FetchFailed,
    FetchRefused,
    WebFetcher,
    check_url,
    html_to_text,
    web_toolset,
)

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html><html><head><title>Trail report</title>
<style>body { color: red }</style><script>var secret = "do-not-show";</script></head>
<body><h1>Col de la Croix</h1><p>Snow above   1800 m.</p><noscript>enable js</noscript>
<ul><li>Bring crampons</li></ul></body></html>"""


def slow(request: BaseHTTPRequestHandler) -> None:
    time.sleep(1.5)
    send("late")(request)


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with loopback_site(
        {
            "/page": send(PAGE),
            "/big": send("a" * (3 * 1024 * 1024), "text/plain"),
            "/binary": send(b"\x89PNG\r\n\x1a\n", "image/png"),
            "/json": send('{"ok": true}', "application/json"),
            "/slow": slow,
            "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
            "/to-page": redirect("/page"),
            "/loop": redirect("/loop"),
        }
    ) as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[WebFetcher]:
    client = WebFetcher(Allowlist.parse("127.0.0.1"), timeout_s=1.0)
    yield client
    await client.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/x", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http://127.0.0.1:8080/", "127.0.0.1, a loopback"),
        ("http://localhost/", "a loopback"),
        ("http://[::1]/", "::1, a loopback"),
        ("http://10.0.0.1/", "10.0.0.1, a private"),
        ("http://172.16.5.4/", "172.16.5.4, a private"),
        ("http://192.168.1.1/", "192.168.1.1, a private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local"),
        ("http://100.64.0.1/", "100.64.0.1, a reserved or shared"),
        ("http://0.0.0.0/", "0.0.0.0, an unspecified"),
        ("http://224.0.0.1/", "224.0.0.1, a multicast"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped of 127.0.0.1, a loopback"),
        ("http://[fe80::1]/", "fe80::1, a link-local"),
        ("http://2130706433/", "127.0.0.1, a loopback"),  # 127.0.0.1 written as one number
        ("http://user:pw@example.com/", "credentials"),
    ],
)
async def test_refuses_schemes_and_non_public_addresses(url: str, reason: str) -> None:
    with pytest.raises(FetchRefused, match=None) as refused:
        await check_url(url, Allowlist.parse(""))
    assert reason in str(refused.value)
    if reason.endswith(("loopback", "link-local", "private", "multicast", "unspecified", "shared")):
        assert "WEB_FETCH_ALLOWLIST" in str(refused.value)


async def test_allowlist_names_hosts_and_networks() -> None:
    allow = Allowlist.parse("intranet.example, 10.1.0.0/16 ,127.0.0.1")
    assert allow.permits("intranet.example", ipaddress.ip_address("10.9.9.9"))
    assert allow.permits("any.example", ipaddress.ip_address("10.1.200.3"))
    assert allow.permits("x", ipaddress.ip_address("127.0.0.1"))
    assert not allow.permits("x", ipaddress.ip_address("127.0.0.2"))
    assert not allow.permits("x", ipaddress.ip_address("10.2.0.1"))
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.2"):
        await check_url("http://127.0.0.2/", allow)


async def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    async def answers(_host: str, _port: int) -> list[ipaddress.IPv4Address]:
        return [ipaddress.IPv4Address("93.184.216.34"), ipaddress.IPv4Address("127.0.0.1")]

    monkeypatch.setattr(web, "resolve", answers)
    with pytest.raises(FetchRefused, match=r"resolves to 127\.0\.0\.1"):
        await check_url("https://mixed.example/", Allowlist.parse(""))


async def test_connects_to_the_checked_address_not_a_second_dns_answer(
    site: LoopbackSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([[ipaddress.IPv4Address("127.0.0.1")], [ipaddress.IPv4Address("10.66.66.66")]])
    calls: list[str] = []

    async def rebinding(host: str, _port: int) -> list[ipaddress.IPv4Address]:
        calls.append(host)
        return next(answers)

    monkeypatch.setattr(web, "resolve", rebinding)
    fetcher = WebFetcher(Allowlist.parse("pinned.test"))
    try:
        page = await fetcher.fetch(f"http://pinned.test:{site.port}/page")
    finally:
        await fetcher.close()
    assert page.status == 200
    assert calls == ["pinned.test"]  # resolved once, by the check; the client did not resolve
    assert site.requests[-1].headers["host"] == f"pinned.test:{site.port}"


async def test_html_becomes_text(site: LoopbackSite, fetcher: WebFetcher) -> None:
    page = await fetcher.fetch(f"{site.base}/page")
    assert (page.status, page.content_type, page.truncated) == (200, "text/html", False)
    assert page.text == "# Trail report\n\nCol de la Croix\nSnow above 1800 m.\nBring crampons"
    assert "do-not-show" not in page.text
    json_page = await fetcher.fetch(f"{site.base}/json")
    assert json_page.text == '{"ok": true}'
    assert html_to_text("<p>a<br>b</p>") == "a\nb"


@pytest.mark.slow  # waits seconds of real time
async def test_limits(site: LoopbackSite, fetcher: WebFetcher) -> None:
    big = await fetcher.fetch(f"{site.base}/big", max_chars=1000)
    assert big.truncated
    assert big.text == "a" * 1000
    with pytest.raises(FetchFailed, match="'image/png' is not text"):
        await fetcher.fetch(f"{site.base}/binary")
    # /slow answers after 1.5 s: only the 1 s limit can make this fetch fail.
    with pytest.raises(FetchFailed, match="within 1 s"):
        await fetcher.fetch(f"{site.base}/slow")


async def test_redirects_are_checked_hop_by_hop(site: LoopbackSite, fetcher: WebFetcher) -> None:
    followed = await fetcher.fetch(f"{site.base}/to-page")
    assert followed.url == f"{site.base}/page"
    assert followed.text.startswith("# Trail report")
    with pytest.raises(FetchRefused, match=r"169\.254\.169\.254"):
        await fetcher.fetch(f"{site.base}/to-metadata")
    with pytest.raises(FetchFailed, match="more than 5 redirects"):
        await fetcher.fetch(f"{site.base}/loop")


async def test_fetch_tool_through_a_model(
    site: LoopbackSite,
    fetcher: WebFetcher,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
) -> None:
    script = Script(
        [
            [("fetch_url", {"url": f"{site.base}/page", "max_chars": 200})],
            [("fetch_url", {"url": "http://169.254.169.254/latest/meta-data/"})],
            [("fetch_url", {"url": f"{site.base}/binary"})],
            [("fetch_url", {"url": "file:///etc/passwd"})],
        ]
    )
    await run_script(script, [web_toolset(fetcher)], deps_for(settings, store, http))
    assert script.seen[0] == (
        f"fetch_url: URL: {site.base}/page\nHTTP 200 text/html\n\n"
        "# Trail report\n\nCol de la Croix\nSnow above 1800 m.\nBring crampons"
    )
    assert script.seen[1].startswith("RETRY fetch_url: refused: 169.254.169.254 resolves to")
    assert script.seen[2].startswith("fetch_url: fetch failed: content type 'image/png'")
    assert script.seen[3].startswith("RETRY fetch_url: refused: only http and https")
    assert [r.path for r in site.requests] == ["/page", "/binary"]  # nothing else was contacted


async def test_unresolvable_names_fail_cleanly() -> None:
    with pytest.raises(FetchFailed, match=r"cannot resolve 'a{70}\.example': encoding with 'idna'"):
        await check_url(f"http://{'a' * 70}.example/", Allowlist.parse(""))
