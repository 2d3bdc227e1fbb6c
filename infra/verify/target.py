"""What the checks need to know about a deployed stack, read from its Pulumi outputs.

Every Cloudflare endpoint (the stack URL, the R2 S3 endpoint, the AI Gateway) comes from the
outputs, never from a constant here, so the same checks run against loopback stand-ins in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

Channel = Literal["telegram", "slack", "discord", "whatsapp"]

# Output name -> (example, what produces it); used in error messages for a missing output.
_EXAMPLES = {
    "url": "https://agent.example.com",
    "accessTeamDomain": "https://acme.cloudflareaccess.com",
    "serviceTokenClientId": "0123abcd.access",
    "bucket": "edgeagent-acme-prod",
    "stateEndpoint": "https://<account id>.r2.cloudflarestorage.com",
    "aiGatewayBaseUrl": "https://gateway.ai.cloudflare.com/v1/<account id>/<gateway id>",
    "coldStartTimeoutMs": "30000",
}


class OutputsError(ValueError):
    """The stack's outputs lack something the checks need (an older deployment, or none yet)."""


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not echoed: a misplaced secret must not end up in the message.
        raise ValueError("must be an http(s) URL with a host")
    return value.rstrip("/")


class Target(BaseModel):
    """One deployed stack, as seen from outside."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    url: str
    access_team_domain: str = Field(alias="accessTeamDomain")
    service_token_client_id: SecretStr = Field(alias="serviceTokenClientId")
    service_token_client_secret: SecretStr = Field(alias="serviceTokenClientSecret")
    webhook_channels: list[Channel] = Field(alias="webhookChannels")
    cold_start_timeout_ms: int = Field(alias="coldStartTimeoutMs", ge=0, le=300_000)
    workers_dev_url: str | None = Field(default=None, alias="workersDevUrl")
    bucket: str
    state_endpoint: str = Field(alias="stateEndpoint")
    state_access_key_id: SecretStr = Field(alias="stateAccessKeyId")
    state_secret_access_key: SecretStr = Field(alias="stateSecretAccessKey")
    ai_gateway_base_url: str = Field(alias="aiGatewayBaseUrl")

    @field_validator(
        "url", "access_team_domain", "workers_dev_url", "state_endpoint", "ai_gateway_base_url"
    )
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @property
    def custom_domain(self) -> bool:
        """Served on a custom hostname rather than on workers.dev."""
        return not (urlsplit(self.url).hostname or "").endswith(".workers.dev")

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, object]) -> Target:
        """Validate the outputs; the error names each missing or bad output and how to fix it."""
        plain = {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in outputs.items()
        }
        try:
            return cls.model_validate(plain)
        except ValidationError as err:
            problems = []
            for error in err.errors(include_input=False, include_url=False):
                name = ".".join(str(part) for part in error["loc"])
                example = _EXAMPLES.get(name)
                hint = f" (example: {example})" if example else ""
                problems.append(f"output {name}: {error['msg']}{hint}")
            raise OutputsError(
                "the stack's outputs cannot be checked:\n  "
                + "\n  ".join(problems)
                + "\n  run `pulumi up` with this version of the program first: it exports them"
            ) from None
