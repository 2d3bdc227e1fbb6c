"""The checks: each probes one promise of a deployed stack over real HTTP and says ✓ or ✗ and why.

A check never prints or returns a secret: details name statuses, states and counts only.
Effects (HTTP client, S3 client, clock, sleep) come in through `Probe`, so tests drive the same
code against loopback stand-ins with their own clock.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.verify.target import Channel, Target

# The Worker's readiness endpoint (agent/edge/src/coldstart.ts STATUS_PATH).
STATUS_PATH = "/_edge/status"
# Cloudflare Access: a request carrying a service token's id and secret in these headers is let
# through as that token (https://developers.cloudflare.com/cloudflare-one/identity/service-tokens/).
CLIENT_ID_HEADER = "CF-Access-Client-Id"
CLIENT_SECRET_HEADER = "CF-Access-Client-Secret"  # noqa: S105 - a header name
# AI Gateway's own refusal of an unauthenticated call to an Authenticated Gateway carries error
# code 2009 (https://developers.cloudflare.com/ai-gateway/configuration/authentication/); a
# provider's 401 (no provider key sent either) does not, and would mean the call got through.
GATEWAY_UNAUTHORIZED = 2009
POLL_INTERVAL_S = 1.0


class Status(StrEnum):
    PASS = "✓"  # noqa: S105 - a status mark
    FAIL = "✗"
    SKIP = "-"


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    hint: str = ""


S3Factory = Callable[[Target], Any]


def r2_client(target: Target) -> Any:
    """An S3 client for the stack's R2 endpoint with the stack's own state credentials."""
    return boto3.client(
        "s3",
        endpoint_url=target.state_endpoint,
        aws_access_key_id=target.state_access_key_id.get_secret_value(),
        aws_secret_access_key=target.state_secret_access_key.get_secret_value(),
        region_name="auto",  # R2's region (https://developers.cloudflare.com/r2/api/s3/api/)
        config=Config(
            connect_timeout=5,
            read_timeout=15,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )


@dataclass
class Probe:
    """How the checks reach the world."""

    http: httpx.Client
    s3: S3Factory = r2_client
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = field(default=lambda _line: None)


def service_headers(target: Target) -> dict[str, str]:
    return {
        CLIENT_ID_HEADER: target.service_token_client_id.get_secret_value(),
        CLIENT_SECRET_HEADER: target.service_token_client_secret.get_secret_value(),
    }


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# --- Access -----------------------------------------------------------------------------------

# Where Access sends a browser without a session: the team domain's login for this application.
LOGIN_PATH = "/cdn-cgi/access/login"
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "User-Agent": "Mozilla/5.0 (edgeagent infra.verify)",
}
ACCESS_HINT = (
    "the Worker must sit behind Cloudflare Access: check the Access application covers this "
    "hostname and that the Worker has ACCESS_TEAM_DOMAIN and ACCESS_AUD; run `pulumi up` again"
)


def anonymous_browser(target: Target, probe: Probe) -> list[Result]:
    name = "anonymous browser is sent to the Access login"
    response = probe.http.get(f"{target.url}/", headers=BROWSER_HEADERS)
    location = urlsplit(response.headers.get("location", ""))
    team = urlsplit(target.access_team_domain).hostname
    redirected = response.status_code in (301, 302, 303, 307, 308)
    if redirected and location.hostname == team and location.path.startswith(LOGIN_PATH):
        return [Result(name, Status.PASS, f"{response.status_code} to {team}{LOGIN_PATH}")]
    where = f" to {location.hostname}{location.path}" if location.hostname else ""
    return [Result(name, Status.FAIL, f"got {response.status_code}{where}", ACCESS_HINT)]


def anonymous_api(target: Target, probe: Probe) -> list[Result]:
    name = "anonymous API client gets 401"
    response = probe.http.get(f"{target.url}/api/sessions", headers={"Accept": "application/json"})
    if response.status_code == 401:
        return [Result(name, Status.PASS, "401")]
    return [Result(name, Status.FAIL, f"got {response.status_code}", ACCESS_HINT)]


def service_token(target: Target, probe: Probe) -> list[Result]:
    name = f"automation service token reaches {STATUS_PATH}"
    response = probe.http.get(f"{target.url}{STATUS_PATH}", headers=service_headers(target))
    body = _json(response)
    state = body.get("state") if isinstance(body, dict) else None
    if response.status_code == 200 and state in ("sleeping", "starting", "ready"):
        return [Result(name, Status.PASS, f"200, sandbox {state}")]
    return [
        Result(
            name,
            Status.FAIL,
            f"got {response.status_code}",
            "the Access application must allow the stack's service token (policy `automation`, "
            "decision non_identity); if the token expired, `pulumi up` renews it",
        )
    ]


# --- the sandbox -------------------------------------------------------------------------------


def sandbox_ready(target: Target, probe: Probe) -> list[Result]:
    """Poll the status endpoint (which wakes a sleeping sandbox) until ready or the timeout."""
    timeout_s = target.cold_start_timeout_ms / 1000
    name = f"sandbox ready within the cold-start timeout ({timeout_s:g} s)"
    start = probe.clock()
    last: str | None = None
    while True:
        response = probe.http.get(f"{target.url}{STATUS_PATH}", headers=service_headers(target))
        body = _json(response)
        state = body.get("state") if isinstance(body, dict) else None
        elapsed = probe.clock() - start
        if response.status_code == 200 and state == "ready":
            return [Result(name, Status.PASS, f"ready after {elapsed:.1f} s")]
        seen = str(state) if response.status_code == 200 else f"HTTP {response.status_code}"
        if seen != last:
            probe.progress(f"  … sandbox {seen} ({elapsed:.1f} s)")
            last = seen
        if elapsed >= timeout_s:
            return [
                Result(
                    name,
                    Status.FAIL,
                    f"still {seen} after {elapsed:.1f} s",
                    "the container did not start in time: check the image was pushed and the "
                    "container application exists (Workers & Pages → Containers), and its logs",
                )
            ]
        probe.sleep(POLL_INTERVAL_S)


# --- webhooks -------------------------------------------------------------------------------


def _forged(channel: Channel, now: float) -> dict[str, str]:
    """Headers of a delivery signed with a key nobody has: random, fresh timestamp."""
    stamp = str(int(now))
    match channel:
        case "telegram":
            return {"X-Telegram-Bot-Api-Secret-Token": secrets.token_hex(16)}
        case "slack":
            return {
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": f"v0={secrets.token_hex(32)}",
            }
        case "discord":
            return {"X-Signature-Timestamp": stamp, "X-Signature-Ed25519": secrets.token_hex(64)}
        case "whatsapp":
            return {"X-Hub-Signature-256": f"sha256={secrets.token_hex(32)}"}


def forged_webhooks(target: Target, probe: Probe) -> list[Result]:
    if not target.webhook_channels:
        return [Result("forged webhook gets 401", Status.SKIP, "no chat channel configured")]
    results = []
    body = json.dumps({"update_id": secrets.randbelow(1 << 31), "type": 2, "verify": True})
    for channel in target.webhook_channels:
        name = f"forged {channel} webhook gets 401"
        headers = {"Content-Type": "application/json", **_forged(channel, time.time())}
        url = f"{target.url}/webhooks/{channel}"
        response = probe.http.post(url, content=body, headers=headers)
        answer = _json(response)
        error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
        # The Worker's own refusal names the channel; a bare 401 (or a login redirect) is Access
        # refusing the path, which would refuse the platform's real deliveries too.
        if response.status_code == 401 and error.startswith(f"invalid {channel} webhook"):
            results.append(Result(name, Status.PASS, "401 from the Worker's signature check"))
            continue
        detail = f"got {response.status_code}"
        hint = (
            f"the Worker must verify {channel} signatures: set the channel's verification "
            "secret in the stack config and run `pulumi up`"
        )
        if response.status_code in (302, 401, 403):
            detail += ", not from the Worker's signature check"
            hint = (
                "Access refuses /webhooks/*, so real deliveries are refused too: the "
                "webhooks bypass application is missing; run `pulumi up` again"
            )
        results.append(Result(name, Status.FAIL, detail, hint))
    return results


# --- workers.dev ------------------------------------------------------------------------------


def workers_dev_off(target: Target, probe: Probe) -> list[Result]:
    name = "workers.dev URL does not answer (custom domain)"
    if not target.custom_domain:
        return [Result(name, Status.SKIP, "served on workers.dev")]
    if target.workers_dev_url is None:
        return [
            Result(
                name,
                Status.FAIL,
                "cannot check: the workers.dev subdomain is unknown",
                "set `pulumi config set workersDevSubdomain <sub>` (your account's "
                "<sub>.workers.dev) and run `pulumi up`, so this can be checked",
            )
        ]
    try:
        response = probe.http.get(
            f"{target.workers_dev_url}{STATUS_PATH}", headers=service_headers(target)
        )
    except httpx.TransportError as err:
        return [Result(name, Status.PASS, f"no answer ({type(err).__name__})")]
    body = _json(response)
    answered = response.status_code < 400 or response.status_code == 401
    if isinstance(body, dict) and "state" in body:
        answered = True
    if not answered:
        return [Result(name, Status.PASS, f"{response.status_code}, not the Worker")]
    return [
        Result(
            name,
            Status.FAIL,
            f"the Worker answered with {response.status_code}",
            "disable the workers.dev route (the Worker's subdomain `enabled: false`): "
            "run `pulumi up`; if it stays on, turn it off in Workers → Settings → Domains",
        )
    ]


# --- R2 state credentials ---------------------------------------------------------------------

STATE_HINT = (
    "the state token must be scoped to this stack's bucket only: `pulumi up` recreates it; "
    "a hand-made R2 token with account-wide access must not be used"
)


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "unknown"))


def state_scope(target: Target, probe: Probe) -> list[Result]:
    name = "state credentials cannot list another bucket"
    s3 = probe.s3(target)
    try:
        s3.list_objects_v2(Bucket=target.bucket, MaxKeys=1)
    except ClientError as err:
        return [
            Result(
                name,
                Status.FAIL,
                f"they cannot even list their own bucket ({_error_code(err)})",
                "the state token is revoked or wrong: run `pulumi up` to recreate it",
            )
        ]
    try:
        buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    except ClientError as err:
        listing = f"ListBuckets {_error_code(err)}"
    else:
        others = [b for b in buckets if b != target.bucket]
        if others:
            return [
                Result(name, Status.FAIL, f"they list {len(others)} other bucket(s)", STATE_HINT)
            ]
        listing = "ListBuckets shows only their own"
    probe_bucket = f"{target.bucket}-verify-{secrets.token_hex(3)}"[:63]
    try:
        s3.list_objects_v2(Bucket=probe_bucket, MaxKeys=1)
    except ClientError as err:
        return [Result(name, Status.PASS, f"{listing}; another bucket: {_error_code(err)}")]
    return [Result(name, Status.FAIL, "they list a bucket that is not theirs", STATE_HINT)]


# --- AI Gateway --------------------------------------------------------------------------------


def _has_code(value: Any, code: int) -> bool:
    if isinstance(value, dict):
        return value.get("code") == code or any(_has_code(v, code) for v in value.values())
    if isinstance(value, list):
        return any(_has_code(v, code) for v in value)
    return False


def gateway_refuses(target: Target, probe: Probe) -> list[Result]:
    name = "AI Gateway refuses a call without its token"
    response = probe.http.post(
        f"{target.ai_gateway_base_url}/compat/chat/completions",
        json={"model": "openai/gpt-5-mini", "messages": [{"role": "user", "content": "ping"}]},
    )
    if response.status_code == 401 and _has_code(_json(response), GATEWAY_UNAUTHORIZED):
        return [Result(name, Status.PASS, f"401 (code {GATEWAY_UNAUTHORIZED})")]
    detail = f"got {response.status_code}"
    if response.status_code == 401:
        detail += ", but from the provider: the gateway let the call through"
    return [
        Result(
            name,
            Status.FAIL,
            detail,
            "turn on the gateway's authentication (`authentication: true`): run `pulumi up`",
        )
    ]


Check = Callable[[Target, Probe], list[Result]]

# In order: Access first (cheap, and the rest rely on the service token), the slow wait later.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("anonymous browser is sent to the Access login", anonymous_browser),
    ("anonymous API client gets 401", anonymous_api),
    (f"automation service token reaches {STATUS_PATH}", service_token),
    ("forged webhook gets 401", forged_webhooks),
    ("sandbox ready within the cold-start timeout", sandbox_ready),
    ("workers.dev URL does not answer (custom domain)", workers_dev_off),
    ("state credentials cannot list another bucket", state_scope),
    ("AI Gateway refuses a call without its token", gateway_refuses),
)


def run_checks(target: Target, probe: Probe) -> Iterator[Result]:
    """Each check's results as soon as it finishes; an unreachable endpoint fails that check."""
    for name, check in CHECKS:
        try:
            yield from check(target, probe)
        except httpx.HTTPError as err:
            # The exception text is the URL and the transport error: no header values.
            yield Result(
                name, Status.FAIL, f"no answer: {type(err).__name__}", "is the stack deployed?"
            )
        except (BotoCoreError, ClientError) as err:
            yield Result(name, Status.FAIL, f"R2 error: {type(err).__name__}", STATE_HINT)
