"""A loopback stand-in for registry.cloudflare.com's manifest reads (registry HTTP API v2).

Serves `GET /v2/<name>/manifests/<digest>` behind the distribution token flow (401 with a
`WWW-Authenticate: Bearer realm=...` challenge, a token from `GET /token` for Basic credentials)
or plain Basic auth, and only the credentials `accepts` allows (the fake Containers API's issued
username and passwords). Manifests are seeded as bytes, so digests are real sha256 digests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def layer(digest_hex: str, media_type: str) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": f"sha256:{digest_hex}", "size": 1234}


def plain_manifest(seed: str, media_type: str = OCI_MANIFEST) -> bytes:
    """A single-platform image manifest (what `--provenance=false` pushes)."""
    config = "application/vnd.oci.image.config.v1+json"
    tar = "application/vnd.oci.image.layer.v1.tar+gzip"
    if media_type == DOCKER_MANIFEST:
        config = "application/vnd.docker.container.image.v1+json"
        tar = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": layer(hashlib.sha256(f"{seed}-config".encode()).hexdigest(), config),
        "layers": [layer(hashlib.sha256(f"{seed}-layer".encode()).hexdigest(), tar)],
    }
    return json.dumps(body, indent=2).encode()


def attested_index(image: bytes) -> bytes:
    """What BuildKit pushes with provenance on: the image plus an attestation manifest."""
    image_digest = "sha256:" + hashlib.sha256(image).hexdigest()
    attestation = hashlib.sha256(b"attestation").hexdigest()
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": image_digest,
                "size": len(image),
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": f"sha256:{attestation}",
                "size": 566,
                "annotations": {
                    "vnd.docker.reference.digest": image_digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            },
        ],
    }
    return json.dumps(body, indent=2).encode()


@dataclass
class FakeRegistry:
    """Seeded manifests, the auth scheme to demand, and what was asked."""

    accepts: Callable[[str, str], bool] = lambda _user, _password: False
    scheme: Literal["bearer", "basic"] = "bearer"
    manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def push(self, name: str, body: bytes) -> str:
        """Store a manifest under `name`; return its digest."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[(name, digest)] = body
        return digest

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v2/{name:path}/manifests/{digest}", self._manifest, methods=["GET"]),
            Route("/token", self._token, methods=["GET"]),
        ]

    def _basic_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return self.accepts(user, password)

    async def _token(self, request: Request) -> Response:
        self.requests.append(("token", request.url.query))
        if not self._basic_ok(request):
            return JSONResponse({"errors": [{"code": "UNAUTHORIZED"}]}, status_code=401)
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return JSONResponse({"token": token})

    async def _manifest(self, request: Request) -> Response:
        name, digest = request.path_params["name"], request.path_params["digest"]
        self.requests.append(("manifest", f"{name}@{digest}"))
        header = request.headers.get("authorization", "")
        if self.scheme == "bearer":
            authorized = header.startswith("Bearer ") and header[7:] in self.tokens
            challenge = (
                f'Bearer realm="{request.base_url}token",service="registry.cloudflare.com",'
                f'scope="repository:{name}:pull"'
            )
        else:
            authorized = self._basic_ok(request)
            challenge = 'Basic realm="registry"'
        if not authorized:
            return JSONResponse(
                {"errors": [{"code": "UNAUTHORIZED"}]},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        body = self.manifests.get((name, digest))
        if body is None:
            return JSONResponse({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status_code=404)
        media_type = json.loads(body)["mediaType"]
        if media_type not in request.headers.get("accept", ""):
            return JSONResponse({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status_code=404)
        return Response(body, media_type=media_type, headers={"Docker-Content-Digest": digest})
