"""The memory API under /api/memory: list, read, edit (etag-checked) and search memory files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.errors import PreconditionFailed, RequestError
from agent.runtime.http import identity, parse_body
from agent.runtime.runtime_state import runtime_of
from agent.runtime.tools.memory import (
    MAX_FILE_BYTES,
    PATH_EXAMPLE,
    MemoryBook,
    MemoryPathError,
    MemoryTooLarge,
    check_path,
)

if TYPE_CHECKING:
    from agent.runtime.runtime_state import Runtime

PUT_EXAMPLE = '{"content": "- prefers tea\\n", "etag": "\\"9a0364b9e99bb480dd25e1f0284c8555\\""}'


class MemoryEdit(BaseModel):
    """A new version of a file; `etag` is the version it replaces (absent: create a new file)."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(max_length=MAX_FILE_BYTES)
    # An S3/R2 etag as GET returned it, e.g. "9a03...8555" (quotes included); nothing else
    # reaches the store's If-Match header.
    etag: str | None = Field(default=None, pattern=r'^"?[A-Za-z0-9_-]{1,128}"?$')


def _book(request: Request) -> MemoryBook:
    identity(request)
    runtime: Runtime = runtime_of(request)
    return runtime.tools.memory


def _path(request: Request) -> str:
    path: str = request.path_params["path"]
    try:
        return check_path(path)
    except MemoryPathError as error:
        raise RequestError(422, str(error), f"for example /api/memory/{PATH_EXAMPLE}") from None


async def list_memory(request: Request) -> JSONResponse:
    """Every memory file (MEMORY.md first, then daily notes newest first)."""
    files = await _book(request).list_files()
    return JSONResponse(
        {
            "files": [
                # The store's listing carries no modification time; the etag identifies versions.
                {"path": f.path, "size": f.size, "updated_at": None, "etag": f.etag}
                for f in files
            ]
        }
    )


async def read_memory(request: Request) -> JSONResponse:
    """One file's content and etag."""
    book = _book(request)
    path = _path(request)
    text = await book.read(path)
    if text is None:
        raise RequestError(
            404,
            f"no memory file {path!r}",
            'list them at /api/memory; create it with PUT {"content": "..."} (no etag)',
        )
    return JSONResponse({"path": text.path, "content": text.content, "etag": text.etag})


async def write_memory(request: Request) -> JSONResponse:
    """Replace a file if `etag` is still current, or create it when no etag is given."""
    book = _book(request)
    path = _path(request)
    edit = await parse_body(request, MemoryEdit, PUT_EXAMPLE)
    try:
        etag = await book.write(path, edit.content, edit.etag)
    except MemoryTooLarge as error:
        raise RequestError(
            413, str(error), "split it into several memory/<topic>.md files"
        ) from None
    except PreconditionFailed:
        current = await book.read(path)
        raise RequestError(
            409,
            f"{path} was changed by someone else"
            if edit.etag is not None
            else f"{path} already exists",
            "reload it (GET) and apply your edit to the current content",
            [{"field": "etag", "message": f"current etag is {current.etag if current else None}"}],
        ) from None
    return JSONResponse({"path": path, "etag": etag})


async def search_memory(request: Request) -> JSONResponse:
    """Lines matching `q`, best first."""
    book = _book(request)
    query = request.query_params.get("q", "").strip()
    if not 1 <= len(query) <= 200:
        raise RequestError(422, "invalid query parameter: q", "1-200 characters, e.g. ?q=dentist")
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise RequestError(422, "invalid query parameter: limit", "use 1-100, e.g. ?limit=20")
    hits = await book.search(query, int(raw_limit))
    return JSONResponse(
        {"hits": [{"path": h.path, "line": h.line, "snippet": h.snippet} for h in hits]}
    )


routes = [
    Route("/api/memory", list_memory, methods=["GET"]),
    Route("/api/memory/search", search_memory, methods=["GET"]),
    Route("/api/memory/{path:path}", read_memory, methods=["GET"]),
    Route("/api/memory/{path:path}", write_memory, methods=["PUT"]),
]
