"""The tenant manifest (`tenants.yaml`): which tenants exist, where, and with what config.

Owns parsing and validating the manifest and turning one (tenant, environment) pair into the
`config:` mapping of its stack. It deliberately does not know what the config keys mean: the
stack's own pydantic model (`infra.config`, through `infra.plan`) judges the merged result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from infra.naming import DEFAULT_TENANT
from infra.tenants.errors import ManifestError

PROJECT = "edgeagent"

# Tenant ids are part of every Cloudflare-side name (`edgeagent-<tenant>-<env>` for the bucket,
# Worker and gateway; infra/naming.py) and of the stack name `<tenant>-<env>`: lowercase
# DNS-label characters, and at most 24 so those names stay within the 63-character limits.
TENANT_ID_PATTERN = r"^[a-z](?:[a-z0-9]|-(?!-)){0,22}[a-z0-9]$"
# Environment names carry no hyphen, so `<tenant>-<env>` splits back unambiguously on the last one.
ENV_NAME_PATTERN = r"^[a-z][a-z0-9]{1,11}$"
# `environment` and `tenant` are owned by the manifest: each stack gets its own pair.
MANAGED_KEYS = frozenset({f"{PROJECT}:tenant", f"{PROJECT}:environment"})
_CONFIG_KEY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_-]*:)?[A-Za-z][A-Za-z0-9_.-]*$")
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")

_TENANT_ID = re.compile(TENANT_ID_PATTERN)
_ENV_NAME = re.compile(ENV_NAME_PATTERN)


def _tenant_id(value: str) -> str:
    if value == DEFAULT_TENANT:
        raise ValueError(
            f"{DEFAULT_TENANT!r} is the tenant of the repository's own stacks (dev, prod) and "
            "would share their Cloudflare names; pick another id, e.g. acme"
        )
    if not _TENANT_ID.match(value):
        raise ValueError(
            "tenant ids are 2-24 lowercase letters, digits and single hyphens, starting with a "
            "letter and ending with a letter or digit; example: acme-corp"
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError("environment names are 2-12 lowercase letters or digits; example: prod")
    return value


TenantId = Annotated[str, AfterValidator(_tenant_id)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class SecretFromEnv(BaseModel):
    """A secret config value read from an environment variable when the stack is configured."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    secret_env: str = Field(alias="secretEnv")

    @field_validator("secret_env")
    @classmethod
    def _env_var_name(cls, value: str) -> str:
        if not _ENV_VAR.match(value):
            raise ValueError(
                f"{value!r} is not an environment variable name; example: ACME_TELEGRAM_BOT_TOKEN"
            )
        return value


ConfigValue = SecretFromEnv | str | int | float | bool | list[Any] | dict[str, Any]


def _normalize_config(raw: Mapping[str, Any]) -> dict[str, ConfigValue]:
    """Namespace bare keys as `edgeagent:<key>` and turn `{secretEnv: X}` into `SecretFromEnv`."""
    out: dict[str, ConfigValue] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _CONFIG_KEY.match(key):
            raise ValueError(
                f"config key {key!r} is not a Pulumi config key; example: edgeagent:sleepAfter"
            )
        full = key if ":" in key else f"{PROJECT}:{key}"
        if full in MANAGED_KEYS:
            raise ValueError(
                f"config key {full!r} is set by the manifest itself (from the tenant id and the "
                "environment name); remove it"
            )
        if full in out:
            raise ValueError(f"config key {full!r} is given twice (with and without namespace)")
        if isinstance(value, dict) and "secure" in value:
            raise ValueError(
                f"config key {full!r}: 'secure' ciphertext belongs to one stack's secrets "
                "provider and cannot be shared across tenants; use {secretEnv: ENV_VAR_NAME} "
                "and export the value when running up/preview"
            )
        if isinstance(value, dict) and set(value) == {"secretEnv"}:
            env_var = value["secretEnv"]
            if not isinstance(env_var, str) or not _ENV_VAR.match(env_var):
                raise ValueError(
                    f"config key {full!r}: secretEnv {env_var!r} is not an environment variable "
                    "name; example: {secretEnv: ACME_TELEGRAM_BOT_TOKEN}"
                )
            out[full] = SecretFromEnv(secret_env=env_var)
        elif value is None:
            raise ValueError(
                f"config key {full!r} has no value; give one (example: {full}: 10m) or remove it"
            )
        else:
            out[full] = value
    return out


class Overridable(BaseModel):
    """Config overrides (`config:`) at some level of the manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: dict[str, ConfigValue] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _config(cls, value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError("must be a mapping of config key to value; example: {sleepAfter: 10m}")
        return _normalize_config(value)


class TenantEnvironment(Overridable):
    """One environment of one tenant: overrides that apply there only."""


class Environment(BaseModel):
    """An environment every tenant may be deployed to, and the stack file its config starts from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = Field(
        description="stack config file whose `config:` every stack of this env inherits"
    )


class Tenant(Overridable):
    """One tenant: config for all its environments and, per environment, overrides on top."""

    environments: dict[EnvName, TenantEnvironment]

    @field_validator("environments", mode="before")
    @classmethod
    def _list_shorthand(cls, value: object) -> object:
        # `environments: [dev, prod]` is shorthand for environments without own overrides.
        if isinstance(value, list):
            if len(set(map(str, value))) != len(value):
                raise ValueError(f"lists an environment twice: {value}")
            return {name: {} for name in value}
        if isinstance(value, Mapping):
            return {name: ({} if spec is None else spec) for name, spec in value.items()}
        return value

    @field_validator("environments")
    @classmethod
    def _not_empty(cls, value: dict[str, TenantEnvironment]) -> dict[str, TenantEnvironment]:
        if not value:
            raise ValueError("needs at least one environment; example: [dev, prod]")
        return value


class Manifest(BaseModel):
    """The whole `tenants.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(1, ge=1, le=1)
    environments: dict[EnvName, Environment]
    defaults: Overridable = Field(default_factory=Overridable)
    tenants: dict[TenantId, Tenant]


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def _explain(error: ValidationError, source: str) -> ManifestError:
    lines = []
    for item in error.errors():
        # A dict key that fails validation is reported under `[key]`; show it as the key itself.
        where = _location(item["loc"]).replace(".[key]", "") or "(top level)"
        lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return ManifestError(source, lines)


def parse_manifest(data: object, source: str = "tenants.yaml") -> Manifest:
    """Validate an already-loaded manifest document."""
    if not isinstance(data, Mapping):
        raise ManifestError(
            source, ["(top level): must be a mapping with environments and tenants"]
        )
    # Keys come back from YAML as whatever type they parsed to; tenant ids must be strings.
    for key in ("tenants", "environments"):
        section = data.get(key)
        if isinstance(section, Mapping):
            bad = [k for k in section if not isinstance(k, str)]
            if bad:
                raise ManifestError(
                    source, [f"{key}.{bad[0]}: must be a string name; example: acme"]
                )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as error:
        raise _explain(error, source) from None
    declared = ", ".join(sorted(manifest.environments))
    undeclared = [
        f"tenants.{tenant_id}.environments: {env!r} is not declared under environments; "
        f"declared: {declared}"
        for tenant_id, tenant in manifest.tenants.items()
        for env in tenant.environments
        if env not in manifest.environments
    ]
    if undeclared:
        raise ManifestError(source, undeclared)
    return manifest


def load_manifest(path: Path) -> Manifest:
    """Read and validate a manifest file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(str(path), [f"cannot read: {error.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ManifestError(str(path), [f"not valid YAML: {error}"]) from None
    return parse_manifest(data, str(path))
