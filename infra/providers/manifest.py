"""What was pushed: the image manifest's media type, read back from the registry.

Cloudflare Containers run one linux/amd64 image, and wrangler pushes exactly that: it builds
with `docker build --platform linux/amd64 --provenance=false` (cloudflare/workers-sdk
packages/containers-shared/src/build.ts), because BuildKit otherwise wraps even a
single-platform image in an index that carries a provenance attestation manifest
(https://docs.docker.com/build/metadata/attestations/slsa-provenance/). pulumi-docker-build
gives no provenance input; it disables provenance itself for its buildx builds
(`Attests: {"provenance": nil}`, pulumi/pulumi-docker-build provider/internal/client.go; not in
its `exec: true` CLI mode, which the stack does not use). Rather than trust that, the container
provider reads the pushed manifest before pointing an application at it and stops, naming the
fix, if it is an index (OCI image index or Docker manifest list).

Registry HTTP API v2 (https://distribution.github.io/distribution/spec/api/): `GET
/v2/<name>/manifests/<digest>` with the manifest media types in `Accept` and Basic credentials
from the credentials API, as wrangler reads registry.cloudflare.com manifests
(packages/wrangler/src/containers/images.ts). A registry that answers 401 with a Bearer
challenge gets the token flow instead (https://distribution.github.io/distribution/spec/auth/token/).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from infra.errors import BuildError
from infra.providers.registry import REGISTRY_HOST, RegistryLogin

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_LIST})
# Indexes are accepted too: a registry that holds one must say so rather than answer 404.
ACCEPT = ", ".join([OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST])
FIX = (
    "push one linux/amd64 image manifest without attestations, as wrangler does (`docker build "
    "--platform linux/amd64 --provenance=false`): keep the image's `platforms` at linux/amd64 "
    "only, add no attestation/provenance exports, and do not set `exec: true`; then run "
    "`pulumi up` again"
)

_IMAGE = re.compile(r"^(?P<host>[^/]+)/(?P<name>[a-z0-9._/-]+)@(?P<digest>sha256:[0-9a-f]{64})$")
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """`<host>/<name>@sha256:<hex>`, split."""

    host: str
    name: str
    digest: str

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        match = _IMAGE.match(image)
        if match is None:
            raise BuildError(
                f"image {image!r} is not a digest-pinned reference "
                f"(example: {REGISTRY_HOST}/<account>/edgeagent-sandbox@sha256:<64 hex digits>)"
            )
        return cls(host=match["host"], name=match["name"], digest=match["digest"])


def check_pushed_manifest(
    image: str, login: RegistryLogin, *, registry_url: str | None = None, timeout: float = 30.0
) -> str:
    """The media type of `image`'s manifest; BuildError unless it is one image manifest.

    `registry_url` replaces `https://<host>` of the reference (tests point it at loopback).
    """
    ref = ImageRef.parse(image)
    base = (registry_url or f"https://{ref.host}").rstrip("/")
    url = f"{base}/v2/{ref.name}/manifests/{ref.digest}"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        response = _get(client, url, login, base)
    if response.status_code == 404:
        raise BuildError(
            f"{image} is not in the registry (HTTP 404): the push did not complete; run "
            "`pulumi up` again to rebuild and push it"
        )
    if response.status_code != 200:
        raise BuildError(
            f"reading the manifest of {image} failed: HTTP {response.status_code}; check that "
            "the API token has Containers: Edit (registry pull credentials)"
        )
    body = response.content
    if "sha256:" + hashlib.sha256(body).hexdigest() != ref.digest:
        raise BuildError(f"the registry answered for {image} with a manifest of another digest")
    manifest = _json(body, image)
    media_type = str(manifest.get("mediaType") or _content_type(response))
    if media_type in INDEXES or "manifests" in manifest:
        raise BuildError(
            f"{image} is an image index ({media_type}) listing "
            f"{_describe_entries(manifest)}, not a single image: Cloudflare Containers run one "
            f"linux/amd64 image manifest. Fix: {FIX}"
        )
    if media_type not in IMAGE_MANIFESTS:
        raise BuildError(
            f"{image} has manifest media type {media_type!r}, not an image manifest "
            f"({OCI_MANIFEST} or {DOCKER_MANIFEST}). Fix: {FIX}"
        )
    return media_type


def _get(client: httpx.Client, url: str, login: RegistryLogin, base: str) -> httpx.Response:
    basic = (login.username, login.password.get_secret_value())
    response = client.get(url, headers={"Accept": ACCEPT}, auth=basic)
    if response.status_code != 401:
        return response
    scheme, _, rest = response.headers.get("www-authenticate", "").partition(" ")
    if scheme.lower() != "bearer":
        return response
    params = dict(_PARAM.findall(rest))
    realm = params.pop("realm", "")
    # The password goes only to an https realm, or to the registry's own origin.
    if urlsplit(realm).scheme != "https" and not _same_origin(realm, base):
        raise BuildError(f"the registry named a token service that is not https: {realm!r}")
    token_response = client.get(realm, params=params, auth=basic)
    if token_response.status_code != 200:
        raise BuildError(
            f"the registry's token service refused the pull credentials: HTTP "
            f"{token_response.status_code}; check that the API token has Containers: Edit"
        )
    grant = _json(token_response.content, "the registry token response")
    token = grant.get("token") or grant.get("access_token")
    if not isinstance(token, str):
        raise BuildError("the registry's token service answered without a token")
    return client.get(url, headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"})


def _same_origin(a: str, b: str) -> bool:
    left, right = urlsplit(a), urlsplit(b)
    return (left.scheme, left.netloc) == (right.scheme, right.netloc)


def _content_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip()


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BuildError(f"{what}: the registry answered with something that is not JSON")
    return value


def _describe_entries(index: dict[str, Any]) -> str:
    """`2 manifests (linux/amd64, attestation)`: what the index holds, for the error."""
    entries = [e for e in index.get("manifests", []) if isinstance(e, dict)]
    kinds = []
    for entry in entries:
        annotations = entry.get("annotations") or {}
        platform = entry.get("platform") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            kinds.append("attestation")
        else:
            kinds.append(f"{platform.get('os', '?')}/{platform.get('architecture', '?')}")
    return f"{len(entries)} manifests ({', '.join(kinds)})"
