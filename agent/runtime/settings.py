"""Runtime settings: read once from the environment, validated, and never logged in clear.

Every field is named after its environment variable (`agent_edge_token` is `AGENT_EDGE_TOKEN`), so
an error names exactly the variable to fix. Secrets are `SecretStr`: their repr is `**********`.
The fields are declared once in agent/contract/settings.py and generated into
agent/runtime/generated/settings.py (`make generate`); this module adds the checks.
"""

from __future__ import annotations

import ipaddress
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from agent.runtime.errors import ConfigError
from agent.runtime.generated.settings import EXAMPLES, DeclaredSettings
from agent.runtime.mcp_servers import McpServer, parse_mcp_servers

__all__ = ["EXAMPLES", "MODEL_PATTERN", "RuntimeSettings", "load_settings"]

MODEL_PATTERN = re.compile(r"^(offline|(openai|compat|workers-ai|anthropic):\S+)$")


class RuntimeSettings(DeclaredSettings):
    """Everything the runtime reads from its environment (fields: agent/contract/settings.py)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", env_ignore_empty=True, frozen=True
    )

    @field_validator("agent_model", "agent_job_model")
    @classmethod
    def _model_format(cls, value: str | None) -> str | None:
        if value is not None and not MODEL_PATTERN.match(value):
            raise ValueError(
                "must be 'offline' or '<provider>:<model>' with provider one of "
                "openai, compat, workers-ai, anthropic"
            )
        return value

    @field_validator("web_fetch_allowlist")
    @classmethod
    def _allowlist_entries(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not a valid CIDR network") from None
            elif not re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", entry):
                raise ValueError(f"{entry!r} is not a host name or IP address")
        return value

    @field_validator("openclaw_allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", entry):
                raise ValueError(f"{entry!r} is not an origin such as https://agent.example.com")
        return value

    @field_validator("agent_admin_emails")
    @classmethod
    def _admin_emails(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", entry):
                raise ValueError(f"{entry!r} is not an email such as ops@example.com")
        return value

    @field_validator("agent_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("agent_edge_token", "openclaw_gateway_token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("agent_mcp_servers")
    @classmethod
    def _mcp_servers(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_mcp_servers(value.get_secret_value())
        return value

    @field_validator("agent_user")
    @classmethod
    def _user_is_one_segment(cls, value: str | None) -> str | None:
        if value is not None and ("/" in value or value in {".", ".."} or not value.isprintable()):
            raise ValueError("must be an identity such as an email, without '/'")
        return value

    @model_validator(mode="after")
    def _backends_complete(self) -> RuntimeSettings:
        missing: list[str] = []
        if self.state_backend == "r2":
            for name in (
                "state_bucket",
                "state_endpoint",
                "state_access_key_id",
                "state_secret_access_key",
            ):
                if getattr(self, name) is None:
                    missing.append(name.upper())
        if self.agent_model != "offline":
            # openai: and anthropic: may also call the provider directly with its key.
            keyed = self.agent_model.split(":", 1)[0] in {"openai", "anthropic"}
            local = "AGENT_MODEL_BASE_URL for a local server"
            if self.ai_gateway_base_url is None and self.agent_model_base_url is None:
                if not keyed:
                    missing.append(f"AI_GATEWAY_BASE_URL (or {local})")
                elif self.agent_model_api_key is None:
                    missing.append(f"AGENT_MODEL_API_KEY (or AI_GATEWAY_BASE_URL, or {local})")
            if self.ai_gateway_base_url is not None and self.ai_gateway_token is None:
                missing.append("AI_GATEWAY_TOKEN")
        if missing:
            raise ValueError("required by this configuration but not set: " + ", ".join(missing))
        return self

    @property
    def is_offline(self) -> bool:
        """True when the built-in deterministic model answers."""
        return self.agent_model == "offline"

    @property
    def mcp_servers(self) -> list[McpServer]:
        """AGENT_MCP_SERVERS, parsed (validated when the settings were read)."""
        if self.agent_mcp_servers is None:
            return []
        return parse_mcp_servers(self.agent_mcp_servers.get_secret_value())

    @property
    def admin_emails(self) -> frozenset[str]:
        """AGENT_ADMIN_EMAILS as a set of lower-case emails."""
        parts = (part.strip().lower() for part in self.agent_admin_emails.split(","))
        return frozenset(filter(None, parts))

    @property
    def state_prefix(self) -> str:
        """Key prefix of this sandbox's state: per-user isolation gets its own subtree."""
        return f"users/{self.agent_user}/" if self.agent_user else ""


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        names = [loc.upper()] if loc else re.findall(r"\b[A-Z][A-Z0-9_]{3,}\b", message)
        example = "; ".join(f"{n}={EXAMPLES[n]}" for n in names if n in EXAMPLES)
        label = loc.upper() if loc else "environment"
        lines.append(f"{label}: {message}" + (f" (example: {example})" if example else ""))
    return "invalid runtime configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> RuntimeSettings:
    """Read the settings from the environment, or raise one ConfigError naming each bad variable."""
    try:
        return RuntimeSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
