"""Chat attachments under /api: upload (POST, raw body) and read back (GET, the owner only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.runtime.attachments import load, not_found, read_capped, save
from agent.runtime.errors import RequestError
from agent.runtime.http import identity
from agent.runtime.runtime_state import runtime_of
from agent.runtime.session_index import same_identity


async def upload(request: Request) -> JSONResponse:
    """Store the raw request body as an attachment: `POST /api/attachments?name=cat.png`.

    The body is read with AGENT_ATTACHMENT_MAX_BYTES as a cap (a larger Content-Length is refused
    before reading); the type comes from the content. Answers `{id, name, type, size}`.
    """
    user = identity(request)
    runtime = runtime_of(request)
    limit = runtime.settings.agent_attachment_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(
            413,
            f"attachment larger than {limit} bytes (AGENT_ATTACHMENT_MAX_BYTES)",
            "send a smaller file; nothing was stored",
        )
    body = await read_capped(request.stream(), limit)
    info = await save(runtime.store, user, request.query_params.get("name"), body)
    return JSONResponse(info.public(), status_code=201)


async def download(request: Request) -> Response:
    """The attachment's bytes with its sniffed type: images inline, anything else as a download.

    `?user=<identity>` reads another identity's file (a chat sender's, in a session an admin
    reads): admins only, audit-logged; anyone else gets the 404 of a missing file.
    """
    user = identity(request)
    runtime = runtime_of(request)
    attachment_id = request.path_params["attachment_id"]
    owner = request.query_params.get("user") or user
    access = runtime.service.access
    if not same_identity(owner, user):
        if not access.is_admin(user):
            raise not_found(attachment_id)  # as for a missing file: no existence leak
        await access.audit("read_attachment", user, None, owner=owner, attachment=attachment_id)
    attachment = await load(runtime.store, owner, attachment_id)
    info = attachment.info
    disposition = "inline" if info.is_image else "attachment"
    # The name is only ever a quoted-string parameter, ASCII-folded (RFC 6266 section 4.1).
    ascii_name = info.name.encode("ascii", "replace").decode().replace('"', "'")
    return Response(
        attachment.body,
        media_type=info.type,
        headers={
            "content-disposition": f'{disposition}; filename="{ascii_name}"',
            "x-content-type-options": "nosniff",
            "cache-control": "private, max-age=86400, immutable",
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )


routes = [
    Route("/api/attachments", upload, methods=["POST"]),
    Route("/api/attachments/{attachment_id}", download, methods=["GET"]),
]
