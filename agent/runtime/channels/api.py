"""How every chat platform's HTTP API is called: JSON over the runtime's shared httpx client.

Each platform module holds pydantic models of the payloads it reads (webhooks in, answers back)
and sends through `post_json` (files: `post_form`, multipart), which turns a transport failure
into a retryable DeliveryError with every credential redacted. What an HTTP answer means (ok,
retry, give up) is the platform's call; `retryable_status` is the rule they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from agent.runtime.channels.base import redact
from agent.runtime.errors import DeliveryError

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
UPLOAD_TIMEOUT = httpx.Timeout(120.0, connect=5.0)  # a file of several MB on a slow uplink


async def post_json(
    http: httpx.AsyncClient,
    what: str,
    url: str,
    body: Any,
    *,
    secrets: tuple[str | None, ...],
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """The platform's answer to one JSON POST; DeliveryError (retryable) if none came."""
    try:
        return await http.post(url, json=body, headers=headers, params=params, timeout=TIMEOUT)
    except httpx.HTTPError as error:
        raise DeliveryError(
            f"{what}: {type(error).__name__}: {redact(str(error), *secrets)}", retryable=True
        ) from None


async def post_form(
    http: httpx.AsyncClient,
    what: str,
    url: str,
    *,
    data: Mapping[str, str],
    secrets: tuple[str | None, ...],
    file: tuple[str, str, bytes, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """The answer to one form POST: multipart/form-data with `file` = (field, name, bytes, type),
    url-encoded without; DeliveryError (retryable) if no answer came."""
    files = {file[0]: (file[1], file[2], file[3])} if file is not None else None
    try:
        return await http.post(
            url, data=data, files=files, headers=headers, params=params, timeout=UPLOAD_TIMEOUT
        )
    except httpx.HTTPError as error:
        raise DeliveryError(
            f"{what}: {type(error).__name__}: {redact(str(error), *secrets)}", retryable=True
        ) from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when the body is not one (an HTML error page, ...)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retryable_status(status: int) -> bool:
    """Rate limited or a server error: trying again later can help."""
    return status == 429 or status >= 500
