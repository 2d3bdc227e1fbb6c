"""A whole deployed stack on loopback for `infra.verify`: its end-to-end tests and its benchmark.

- the built Worker (agent/edge/dist) in one workerd process, Access on, verifying JWTs against a
  JWKS of the test's own (answered for the team domain by `verify_workerd.mjs`);
- an Access stand-in in front of it, doing what Cloudflare Access does with a service token:
  exchanging `CF-Access-Client-Id`/`-Secret` for a signed `Cf-Access-Jwt-Assertion`;
- the runtime stand-in (bench.edge_overhead.origin) as the sandbox;
- R2 as a moto server enforcing IAM, with a token scoped to the stack's bucket and an account-wide
  one; the AI Gateway as a small app that refuses calls without its token (or, misconfigured,
  lets them through to a "provider").

Every process runs in its own process group and is stopped with it.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.dev import node_binary
from agent.localproc import serve_app
from agent.ports import free_port
from bench.edge_overhead.localdev import REPO_ROOT as REPO
from bench.edge_overhead.localdev import origin, wait_for_http

WORKERD_SCRIPT = Path(__file__).with_name("workerd.mjs")
TEAM_DOMAIN = "https://verify-team.cloudflareaccess.com"
AUD = "a" * 64
KID = "verify-test-key"
PASSTHROUGH = ("content-type", "location", "retry-after", "cache-control")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AccessKeys:
    """An RSA signing key standing in for the Access team's, and its JWKS."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self.jwks = {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": KID,
                    "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def service_token_jwt(self, client_id: str) -> str:
        """What Access puts in `Cf-Access-Jwt-Assertion` for a service token."""
        now = int(time.time())
        header = {"alg": "RS256", "kid": KID, "typ": "JWT"}
        claims = {
            "iss": TEAM_DOMAIN,
            "aud": [AUD],
            "common_name": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "type": "app",
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@contextmanager
def workerd(bindings: Mapping[str, str], keys: AccessKeys, log: Path) -> Iterator[str]:
    """The built Worker with `bindings`, Access keys from `keys`; yields its base URL."""
    if not (REPO / "agent" / "edge" / "dist" / "index.js").exists():
        raise FileNotFoundError(
            "agent/edge/dist is missing: run `npm run --prefix agent/edge build`"
        )
    port = free_port()
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "VERIFY_WORKER_BINDINGS": json.dumps(dict(bindings)),
        "VERIFY_JWKS": json.dumps(keys.jwks),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(node_binary()), str(WORKERD_SCRIPT), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/webhooks/none", timeout=60, proc=proc)
        yield base
    finally:
        _stop(proc)


class AccessEdge:
    """Settings of the Access stand-in; `webhook_bypass` false is a stack whose webhooks
    application (the Access bypass for /webhooks/*) is missing."""

    def __init__(self) -> None:
        self.url = ""
        self.webhook_bypass = True


@contextmanager
def access_edge(
    worker: str, keys: AccessKeys, client_id: str, client_secret: str
) -> Iterator[AccessEdge]:
    """Cloudflare Access in front of `worker`, as far as the checks see it: a valid service token
    becomes a signed JWT, a wrong one is refused with 401 (the app's `serviceAuth401Redirect`);
    everything else passes through, so the Worker's own Access enforcement is what anonymous
    requests meet."""
    edge = AccessEdge()

    async def forward(request: Request) -> Response:
        if not edge.webhook_bypass and request.url.path.startswith("/webhooks/"):
            return Response("Unauthorized", 401)
        drop = {"host", "content-length", "cf-access-client-id", "cf-access-client-secret"}
        drop.add("cf-access-jwt-assertion")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in drop}
        given_id = request.headers.get("cf-access-client-id")
        given_secret = request.headers.get("cf-access-client-secret")
        if given_id is not None or given_secret is not None:
            valid = given_id == client_id and hmac.compare_digest(
                (given_secret or "").encode(), client_secret.encode()
            )
            if not valid:
                return Response("Unauthorized", 401)
            headers["cf-access-jwt-assertion"] = keys.service_token_jwt(client_id)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
            upstream = await client.request(
                request.method, worker + path, headers=headers, content=await request.body()
            )
        kept = {k: v for k, v in upstream.headers.items() if k.lower() in PASSTHROUGH}
        return Response(upstream.content, upstream.status_code, headers=kept)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
    with serve_app(app, "Access stand-in") as url:
        edge.url = url
        yield edge


@contextmanager
def never_ready_sandbox() -> Iterator[str]:
    """A sandbox whose runtime never becomes ready (`/readyz` and everything else: 503)."""

    async def starting(_: Request) -> JSONResponse:
        return JSONResponse({"ready": False}, 503)

    methods = ["GET", "POST"]
    app = Starlette(routes=[Route("/{path:path}", starting, methods=methods)])
    with serve_app(app, "never-ready sandbox") as url:
        yield url


@dataclass(frozen=True)
class R2:
    endpoint: str
    bucket: str
    scoped: tuple[str, str]  # access key id, secret: this bucket only
    account_wide: tuple[str, str]


def _aws(service: str, endpoint: str, key: tuple[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
    )


def _user(iam: Any, name: str, resources: list[str]) -> tuple[str, str]:
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*" if resources == ["*"] else "s3:*",
                       "Resource": resources}],
    }  # fmt: skip
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"moto server did not listen on {port}")


@contextmanager
def r2(bucket: str) -> Iterator[R2]:
    """moto's server enforcing IAM, like R2 enforces token scopes: `bucket` and one other bucket
    exist, and every request from then on needs valid credentials."""
    port = free_port()
    # The set-up runs with authentication off; then moto's reset-auth turns it on for every
    # request (a count of 0 unauthenticated actions left). Counting set-up calls instead
    # (INITIAL_NO_AUTH_ACTION_COUNT=3 at start) broke when any stray request reached the port
    # first, e.g. another test still polling a server that had held that port number.
    env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_for_port(port, proc)
        iam = _aws("iam", endpoint, ("setup", "setup"))
        admin = _user(iam, "admin", ["*"])
        s3 = _aws("s3", endpoint, admin)
        s3.create_bucket(Bucket=bucket)
        s3.create_bucket(Bucket="another-tenant")
        scoped = _user(iam, "state", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
        with httpx.Client(timeout=30) as client:
            client.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield R2(endpoint, bucket, scoped, admin)
    finally:
        _stop(proc)


class Gateway:
    """AI Gateway stand-in: `authenticated` refuses calls without `cf-aig-authorization`
    (401, code 2009); otherwise the call reaches the "provider", which wants its own key."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.authenticated = True

    async def call(self, request: Request) -> JSONResponse:
        given = request.headers.get("cf-aig-authorization", "")
        if self.authenticated and not hmac.compare_digest(given, f"Bearer {self.token}"):
            body = {"success": False, "error": [{"code": 2009, "message": "Unauthorized"}]}
            return JSONResponse(body, 401)
        provider = {"error": {"message": "You didn't provide an API key.", "code": None}}
        return JSONResponse(provider, 401)


@contextmanager
def gateway(token: str) -> Iterator[tuple[Gateway, str]]:
    """Yields the stand-in and its base URL (`…/v1/<account>/<gateway>`)."""
    fake = Gateway(token)
    app = Starlette(routes=[Route("/v1/{account}/{gw}/{rest:path}", fake.call, methods=["POST"])])
    with serve_app(app, "AI Gateway stand-in") as url:
        yield fake, f"{url}/v1/0123456789abcdef0123456789abcdef/edgeagent-verify"


BUCKET = "edgeagent-verify-dev"
CLIENT_ID = "0f1e2d3c4b5a.access"
CLIENT_SECRET = secrets.token_hex(32)
EDGE_TOKEN = secrets.token_hex(24)
GATEWAY_TOKEN = secrets.token_hex(20)
CHANNEL_SECRETS = {
    "TELEGRAM_WEBHOOK_SECRET": secrets.token_hex(16),
    "SLACK_SIGNING_SECRET": secrets.token_hex(16),
    "DISCORD_PUBLIC_KEY": secrets.token_hex(32),
}


def bindings(sandbox: str, **extra: str) -> dict[str, str]:
    """The Worker's bindings as the stack sets them, with the sandbox at a local origin."""
    return {
        "TENANT": "verify",
        "ISOLATION": "shared",
        "ACCESS_TEAM_DOMAIN": TEAM_DOMAIN,
        "ACCESS_AUD": AUD,
        "AGENT_EDGE_TOKEN": EDGE_TOKEN,
        "COLD_START_TIMEOUT_MS": "5000",
        "AGENT_ORIGIN": sandbox,
        **extra,
    }


@dataclass
class Deployed:
    url: str
    edge: AccessEdge
    worker: str
    store: R2
    gateway: Gateway
    gateway_url: str
    logs: Path

    def outputs(self, **overrides: object) -> dict[str, object]:
        """The stack outputs as the Automation API returns them: secrets as SecretStr."""
        outputs: dict[str, object] = {
            "url": self.url,
            "workerName": "edgeagent-verify-dev",
            "accessTeamDomain": TEAM_DOMAIN,
            "accessAud": AUD,
            "serviceTokenClientId": CLIENT_ID,
            "serviceTokenClientSecret": SecretStr(CLIENT_SECRET),
            "webhookChannels": ["telegram", "slack", "discord"],
            "coldStartTimeoutMs": 5000,
            # Nothing listens there: the workers.dev route of a custom-domain stack is off.
            "workersDevUrl": f"http://127.0.0.1:{free_port()}",
            "bucket": self.store.bucket,
            "stateEndpoint": self.store.endpoint,
            "stateAccessKeyId": SecretStr(self.store.scoped[0]),
            "stateSecretAccessKey": SecretStr(self.store.scoped[1]),
            "aiGatewayBaseUrl": self.gateway_url,
        }
        outputs.update(overrides)
        return outputs


class OutputsWorkspace:
    """The Automation API seam with one deployed stack whose outputs are given."""

    def __init__(self, outputs: dict[str, object]) -> None:
        self._outputs = outputs

    def stack(self, name: str, *, create: bool) -> OutputsWorkspace:
        if create:
            raise AssertionError("infra.verify must never create a stack")
        return self

    def outputs(self) -> dict[str, object]:
        return dict(self._outputs)


@contextmanager
def deployed_stack(logs: Path) -> Iterator[Deployed]:
    """The whole stack on loopback, Access on, three channels, ready sandbox; logs under `logs`."""
    keys = AccessKeys()
    with (
        origin() as sandbox,
        workerd(bindings(sandbox, **CHANNEL_SECRETS), keys, logs / "workerd.log") as worker,
        access_edge(worker, keys, CLIENT_ID, CLIENT_SECRET) as edge,
        r2(BUCKET) as store,
        gateway(GATEWAY_TOKEN) as (fake_gateway, gateway_url),
    ):
        yield Deployed(edge.url, edge, worker, store, fake_gateway, gateway_url, logs)
