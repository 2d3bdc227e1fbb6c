"""Credentials and error handling shared by the dynamic providers that call the Cloudflare API.

The API token is read at call time, inside the provider process, from the stack configuration
(`cloudflare:apiToken`, the same key the pulumi_cloudflare provider uses) or from the
`CLOUDFLARE_API_TOKEN` environment variable. It is never an input or an output of a resource,
so it never reaches the Pulumi state, and it never appears in an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import cloudflare
from pydantic import SecretStr

from infra.errors import EdgeAgentError
from infra.permissions import deploy_hint

# Names of where the token lives, not tokens.
API_TOKEN_CONFIG_KEY = "cloudflare:apiToken"  # noqa: S105
API_TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"


class CloudflareApiError(EdgeAgentError):
    """A Cloudflare API call failed; the message says which call, why, and what to check."""


def resolve_api_token(config: Mapping[str, object]) -> SecretStr:
    """Return the API token from stack config or the environment; fail naming both sources."""
    configured = config.get(API_TOKEN_CONFIG_KEY)
    if isinstance(configured, str) and configured:
        return SecretStr(configured)
    from_env = os.environ.get(API_TOKEN_ENV, "")
    if from_env:
        return SecretStr(from_env)
    raise CloudflareApiError(
        f"no Cloudflare API token: set the secret config `{API_TOKEN_CONFIG_KEY}` "
        f"(pulumi config set --secret {API_TOKEN_CONFIG_KEY} <token>) or the environment "
        f"variable {API_TOKEN_ENV}; {deploy_hint()}"
    )


def make_client(
    token: SecretStr, *, base_url: str | None, max_retries: int
) -> cloudflare.Cloudflare:
    """Build an SDK client; `base_url` (or CLOUDFLARE_BASE_URL) points it at a fake API in tests."""
    return cloudflare.Cloudflare(
        api_token=token.get_secret_value(),
        base_url=base_url or os.environ.get(BASE_URL_ENV) or None,
        max_retries=max_retries,
    )


def describe_api_error(action: str, error: cloudflare.APIError) -> CloudflareApiError:
    """Turn an SDK error into a readable error built only from status code and API error list.

    The SDK's own message embeds the raw response body; we rebuild the text from the structured
    `errors` list so nothing but Cloudflare's codes and messages is shown.
    """
    if isinstance(error, cloudflare.APIStatusError):
        details = _error_details(error)
        hint = _hint_for_status(error.status_code)
        return CloudflareApiError(
            f"{action} failed with HTTP {error.status_code} ({details}). {hint}"
        )
    if isinstance(error, cloudflare.APIConnectionError):
        return CloudflareApiError(
            f"{action} failed: could not reach the Cloudflare API ({type(error).__name__}). "
            "Check network access to api.cloudflare.com and retry."
        )
    return CloudflareApiError(f"{action} failed: {type(error).__name__}")


def _error_details(error: cloudflare.APIStatusError) -> str:
    """Cloudflare v4 `errors` list, or the Containers API's `{error, details}` body."""
    if error.errors:
        return "; ".join(f"{e.code}: {e.message}" for e in error.errors)
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        details = body.get("details")
        extra = (
            ", ".join(f"{key}: {value}" for key, value in details.items())
            if isinstance(details, dict)
            else ""
        )
        return f"{body['error']} ({extra})" if extra else str(body["error"])
    return "no error details"


def _hint_for_status(status: int) -> str:
    if status in (401, 403):
        return f"Check that the API token is valid; {deploy_hint()}."
    if status == 404:
        return "Check the account id and that the resource still exists."
    if status == 409:
        return "The account already has a conflicting object; see the error code above."
    if status == 429:
        return "Rate limited by Cloudflare; wait a minute and run `pulumi up` again."
    if status >= 500:
        return "Cloudflare had a server error; nothing was recorded, run `pulumi up` again."
    return "The request was rejected; fix the input named in the error above."
