"""From the manifest to stacks: which `<tenant>-<env>` stacks exist and the config each one gets.

Config is layered, later layers winning key by key: the environment's base stack file, the
manifest's `defaults`, the tenant's `config`, the tenant's per-environment `config`, and finally
`edgeagent:tenant` / `edgeagent:environment`, which only the manifest sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from infra.tenants.errors import ManifestError, StackConfigError
from infra.tenants.manifest import PROJECT, Manifest, SecretFromEnv


@dataclass(frozen=True, order=True)
class StackTarget:
    """One tenant in one environment: one Pulumi stack."""

    tenant: str
    environment: str

    @property
    def name(self) -> str:
        return f"{self.tenant}-{self.environment}"


@dataclass(frozen=True)
class Encrypted:
    """A `secure:` value inherited from a base stack file (ciphertext of that stack only)."""

    ciphertext: str
    source: str


@dataclass(frozen=True)
class ConfigEntry:
    """A config value as the Automation API sets it: a string, secret or not."""

    value: SecretStr
    secret: bool


def select_targets(
    manifest: Manifest, tenants: list[str] | None = None, environments: list[str] | None = None
) -> list[StackTarget]:
    """Every stack of the manifest, or those of the named tenants / environments, sorted."""
    unknown_tenants = sorted(set(tenants or ()) - set(manifest.tenants))
    if unknown_tenants:
        raise ManifestError(
            "--tenant",
            [
                f"{t!r} is not in the manifest; known: {', '.join(sorted(manifest.tenants))}"
                for t in unknown_tenants
            ],
        )
    unknown_envs = sorted(set(environments or ()) - set(manifest.environments))
    if unknown_envs:
        raise ManifestError(
            "--env",
            [
                f"{e!r} is not declared; declared: {', '.join(sorted(manifest.environments))}"
                for e in unknown_envs
            ],
        )
    targets = [
        StackTarget(tenant_id, env)
        for tenant_id, tenant in manifest.tenants.items()
        if not tenants or tenant_id in tenants
        for env in tenant.environments
        if not environments or env in environments
    ]
    return sorted(targets)


def read_base_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StackConfigError(f"cannot read base stack file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise StackConfigError(f"base stack file {path} is not valid YAML: {error}") from None
    if document is None:
        return {}
    config = document.get("config", {}) if isinstance(document, Mapping) else None
    if not isinstance(config, Mapping):
        raise StackConfigError(
            f"base stack file {path}: 'config' must be a mapping of key to value"
        )
    return dict(config)


def stack_config(
    manifest: Manifest,
    target: StackTarget,
    root: Path,
    *,
    read_base: Callable[[Path], Mapping[str, Any]] = read_base_config,
) -> dict[str, object]:
    """The merged config of one stack; secret values stay references (env var or ciphertext)."""
    environment = manifest.environments[target.environment]
    merged: dict[str, object] = {}
    for key, value in read_base(root / environment.base).items():
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            merged[key] = Encrypted(str(value["secure"]), environment.base)
        else:
            merged[key] = value
    tenant = manifest.tenants[target.tenant]
    for layer in (manifest.defaults, tenant, tenant.environments[target.environment]):
        merged.update(layer.config)
    merged[f"{PROJECT}:tenant"] = target.tenant
    merged[f"{PROJECT}:environment"] = target.environment
    return dict(sorted(merged.items()))


def plan_config(config: Mapping[str, object]) -> dict[str, object]:
    """Config in stack-file form for the offline plan: every secret is an opaque `secure` entry."""
    out: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, SecretFromEnv):
            # The plan never decrypts: a secure entry only has to be present.
            out[key] = {"secure": f"secretEnv:{value.secret_env}"}
        elif isinstance(value, Encrypted):
            out[key] = {"secure": value.ciphertext}
        else:
            out[key] = value
    return out


def _as_string(value: object) -> str:
    if isinstance(value, str):
        return value
    # Pulumi hands structured config to the program as JSON text (Config.get_object parses it).
    return json.dumps(value, sort_keys=True)


def automation_config(
    config: Mapping[str, object], target: StackTarget, environ: Mapping[str, str]
) -> dict[str, ConfigEntry]:
    """Config as the Automation API writes it, secrets read from `environ`; fails naming the key."""
    out: dict[str, ConfigEntry] = {}
    problems: list[str] = []
    for key, value in config.items():
        if isinstance(value, SecretFromEnv):
            secret = environ.get(value.secret_env)
            if not secret:
                problems.append(
                    f"{key}: environment variable {value.secret_env} is not set (or empty); "
                    f"export it before running, e.g. {value.secret_env}=<the secret>"
                )
                continue
            out[key] = ConfigEntry(SecretStr(secret), secret=True)
        elif isinstance(value, Encrypted):
            problems.append(
                f"{key}: inherited as ciphertext from {value.source}, which only that stack can "
                f"decrypt; give it to this tenant in tenants.yaml as {{secretEnv: ENV_VAR_NAME}}"
            )
        else:
            out[key] = ConfigEntry(SecretStr(_as_string(value)), secret=False)
    if problems:
        raise StackConfigError(f"stack {target.name}: " + "; ".join(problems))
    return out
