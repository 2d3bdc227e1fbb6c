"""Everything about registry.cloudflare.com: image names, content tags, push credentials.

Push credentials are short-lived (15 minutes) and come from the Containers API, the call
wrangler makes before `docker login --username <username> --password-stdin` (cloudflare/
workers-sdk packages/containers-shared/src/login.ts): the login uses the `username` and
`password` that call returns, never a constant. They are only requested when something could be
pushed: a real `pulumi up`, never a preview or a run under test mocks. pulumi-docker-build's
Image diff compares a registry's address and username but ignores its password
(provider/internal/image.go, `Diff`), so a fresh password on every `up` changes nothing by
itself. A preview, which requests nothing, shows PREVIEW_USERNAME, the username the API has
returned so far; should the API return another one, the next `up` shows a one-time registries
update of the image (no rebuild of an unchanged context is needed for the application: it pins
the digest).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cloudflare
import pulumi
from pydantic import SecretStr

from infra.errors import BuildError
from infra.providers.cloudflare_api import (
    API_TOKEN_CONFIG_KEY,
    describe_api_error,
    make_client,
    resolve_api_token,
)
from infra.pulumi_internals import under_mocks

REGISTRY_HOST = "registry.cloudflare.com"
# Shown in previews only (nothing is requested there); a real `up` logs in with the username the
# credentials API returns.
PREVIEW_USERNAME = "v1"
CREDENTIAL_MINUTES = 15
Permission = Literal["push", "pull"]


def repository(account_id: str, name: str) -> str:
    """`registry.cloudflare.com/<account>/<name>`, the only registry the platform pulls from."""
    return f"{REGISTRY_HOST}/{account_id}/{name}"


@dataclass(frozen=True, kw_only=True)
class RegistryLogin:
    """Credentials for one push; the password is a SecretStr so it never prints."""

    username: str
    password: SecretStr


def generate_credentials(
    account_id: str,
    token: SecretStr,
    *,
    permissions: tuple[Permission, ...] = ("push", "pull"),
    base_url: str | None = None,
    max_retries: int = 2,
) -> RegistryLogin:
    """POST .../containers/registries/registry.cloudflare.com/credentials, as wrangler does."""
    try:
        with make_client(token, base_url=base_url, max_retries=max_retries) as client:
            result = client.containers.registries.credentials.generate(
                REGISTRY_HOST,
                account_id=account_id,
                expiration_minutes=CREDENTIAL_MINUTES,
                permissions=list(permissions),
            )
    except cloudflare.APIError as error:
        raise describe_api_error(
            f"generating registry credentials ({'+'.join(permissions)})", error
        ) from None
    if not result.username or not result.password:
        raise BuildError(
            f"the credentials API returned no username or password for {REGISTRY_HOST}; "
            "check that the token has Containers: Edit on the account"
        )
    return RegistryLogin(username=result.username, password=SecretStr(result.password))


def pushes_for_real() -> bool:
    """True only in a real `pulumi up`: not in previews, not under unit-test or plan mocks."""
    return not pulumi.runtime.is_dry_run() and not under_mocks()


def registry_login(
    account_id: str, api_token: pulumi.Input[str] | None
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """Username and (secret) password to hand pulumi-docker-build for this run.

    Both come from one credentials call. The token is `api_token` if given, else the Cloudflare
    provider's own `cloudflare:apiToken` (read here because it is the provider's credential, not
    part of the stack model), else CLOUDFLARE_API_TOKEN.
    """
    if not pushes_for_real():
        return pulumi.Output.from_input(PREVIEW_USERNAME), pulumi.Output.secret("")

    def fetch(token: str | None) -> dict[str, str]:
        # Without a configured token, resolve_api_token falls back to CLOUDFLARE_API_TOKEN.
        source = {API_TOKEN_CONFIG_KEY: token} if token else {}
        login = generate_credentials(account_id, resolve_api_token(source))
        return {"username": login.username, "password": login.password.get_secret_value()}

    token = (
        api_token if api_token is not None else pulumi.Config("cloudflare").get_secret("apiToken")
    )
    # The token is secret, so `login` is too; the username is not a secret and is unwrapped.
    login = pulumi.Output.from_input(token).apply(fetch)
    username = pulumi.Output.unsecret(login.apply(lambda value: value["username"]))
    return username, pulumi.Output.secret(login.apply(lambda value: value["password"]))


# --- content tag ----------------------------------------------------------------------------

_INSTRUCTION = re.compile(r"^\s*(COPY|ADD)\s+(.*)$", re.IGNORECASE)


def copied_sources(dockerfile: Path) -> list[str]:
    """Build-context paths the Dockerfile copies in (COPY/ADD sources, not other stages)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    sources: list[str] = []
    for line in text.splitlines():
        match = _INSTRUCTION.match(line)
        if match is None:
            continue
        rest = match.group(2).strip()
        args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        if any(arg.startswith("--from=") for arg in args):
            continue
        paths = [arg for arg in args if not arg.startswith("--")]
        # Heredocs and URLs are not files of the build context.
        sources.extend(p for p in paths[:-1] if not p.startswith("<<") and "://" not in p)
    return sources


def content_tag(context: Path, dockerfile: Path) -> str:
    """sha256 (first 16 hex) over the Dockerfile and every file it copies from `context`.

    The tag names the build; the application pins the pushed digest, which is what makes an
    unchanged build a no-op.
    """
    if not dockerfile.is_file():
        raise BuildError(
            f"{dockerfile} not found: the sandbox image is built from it "
            "(context: the repository root, see docs/contract.md)"
        )
    digest = hashlib.sha256()
    digest.update(b"Dockerfile\0" + dockerfile.read_bytes())
    files: set[Path] = set()
    for source in copied_sources(dockerfile):
        matches = [context] if source in (".", "./") else list(context.glob(source.lstrip("/")))
        if not matches:
            raise BuildError(
                f"{dockerfile.name} copies {source!r}, which is not in the build context {context}"
            )
        for match in matches:
            candidates = match.rglob("*") if match.is_dir() else [match]
            files.update(p for p in candidates if p.is_file() and not _ignored(p, context))
    for path in sorted(files, key=lambda p: p.relative_to(context).as_posix()):
        relative = path.relative_to(context).as_posix()
        digest.update(relative.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _ignored(path: Path, context: Path) -> bool:
    parts = path.relative_to(context).parts
    return any(part in {".git", "__pycache__", "node_modules", ".venv"} for part in parts)
