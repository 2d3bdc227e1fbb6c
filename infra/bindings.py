"""The Worker's bindings of one stack, derived from the setting declarations.

The declarations (agent/contract/settings.py, docs/contract.md) say for each binding where its
value comes from: a setting with `config=` is bound from that `edgeagent:` key whenever the key is
configured (lists comma-separated, as the runtime reads them); one with `provided=` is bound from
what the stack component passes in (a resource output or a value derived from several keys). An
unset optional setting stays unbound, so the edge's or the runtime's default applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pulumi
from pydantic import SecretStr
from pydantic.alias_generators import to_snake

from agent.contract.model import ContractError, Setting
from agent.contract.settings import BY_NAME, bindings
from infra.config import SECRET_FIELDS, StackConfig


@dataclass(frozen=True)
class WorkerBindings:
    """Plain and secret bindings, by name (Durable Object namespaces come from the bundle)."""

    plain: dict[str, pulumi.Input[str]]
    secrets: dict[str, pulumi.Input[str]]


def config_field(setting: Setting) -> str:
    """The StackConfig field a `config=` setting is bound from (agentTimezone: agent_timezone)."""
    field = to_snake(str(setting.config))
    if field not in StackConfig.model_fields:
        raise ContractError(
            f"{setting.name}: config={setting.config!r} is no key of StackConfig "
            "(infra/config.py); add the field there, e.g. agent_timezone: str | None = Field(...)"
        )
    if (setting.kind == "secret") != (field in SECRET_FIELDS):
        # A secret must be set with `pulumi config set --secret`, which a SecretStr field enforces.
        raise ContractError(
            f"{setting.name}: declared {setting.kind} but StackConfig.{field} is "
            f"{'a' if field in SECRET_FIELDS else 'no'} SecretStr; make the two agree"
        )
    return field


# Fail at import, naming the declaration, rather than at the first deploy that configures it.
_FIELDS = {s.name: config_field(s) for s in bindings() if s.config is not None}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def configured(config: StackConfig) -> dict[str, str | SecretStr]:
    """The `config=` bindings whose key is set, as the text the edge and the runtime read."""
    values: dict[str, str | SecretStr] = {}
    for name, field in _FIELDS.items():
        value = getattr(config, field)
        if value is None or value == []:
            continue
        values[name] = value if isinstance(value, SecretStr) else _text(value)
    return values


def check_provided(names: Iterable[str]) -> None:
    """Refuse a name the stack provides that is not declared `provided=` (docs/contract.md)."""
    wrong = sorted(name for name in names if name not in BY_NAME or BY_NAME[name].provided is None)
    if wrong:
        raise ContractError(
            f"bindings {wrong} are provided by the stack but not declared with provided= in "
            "agent/contract/settings.py (docs/contract.md, 'Adding a setting')"
        )


def worker_bindings(
    config: StackConfig, provided: Mapping[str, pulumi.Input[str]]
) -> WorkerBindings:
    """Every plain and secret binding: the configured ones plus what the stack provides."""
    check_provided(provided)
    plain: dict[str, pulumi.Input[str]] = {}
    secrets: dict[str, pulumi.Input[str]] = {}
    for name, value in configured(config).items():
        if isinstance(value, SecretStr):
            secrets[name] = pulumi.Output.secret(value.get_secret_value())
        else:
            plain[name] = value
    for name, input_value in provided.items():
        if BY_NAME[name].kind == "secret":
            secrets[name] = input_value
        else:
            plain[name] = input_value
    return WorkerBindings(plain=plain, secrets=secrets)
