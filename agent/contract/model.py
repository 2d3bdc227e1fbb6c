"""The shape of a setting declaration, and the rules every declaration must keep.

A setting is one name that crosses a boundary: a Worker binding infra declares and the edge reads,
an environment variable the runtime reads, or both. `agent/contract/settings.py` lists them;
`scripts/generate.py` writes the TypeScript, Python and Markdown that follow from the list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["plain", "secret", "durable_object"]
# edge: a Worker binding the edge keeps; container: a binding the edge also passes to the
# container as an environment variable of the same name (when set and non-empty); runtime: a
# container variable that is no binding (set by the edge itself, fixed by the image, or a
# local-dev/test seam); local: a `wrangler dev` variable that must never be deployed.
Reach = Literal["edge", "container", "runtime", "local"]

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_CONFIG_KEY = re.compile(r"[a-z][A-Za-z0-9]*")


@dataclass(frozen=True, kw_only=True)
class Py:
    """How the runtime types a setting: pydantic annotation and default, as Python source."""

    annotation: str
    # Python source of the default; None = required (the runtime refuses to start without it).
    default: str | None = None
    # What the docs show as default when the source is not a plain literal.
    shown: str | None = None
    # A ruff rule the generated line may break (noqa), with the reason in `Setting.note`.
    noqa: str | None = None


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting: its name everywhere, how it is typed and set, and its line of documentation."""

    name: str
    reach: Reach
    doc: str
    kind: Kind = "plain"
    example: str = ""
    # Where infra takes a binding's value: a `edgeagent:<config>` key of the stack ...
    config: str | None = None
    # ... or a resource or derivation of the stack component (text for the docs).
    provided: str | None = None
    # Who sets a `runtime` variable that is no binding (text for the docs).
    set_by: str | None = None
    # The runtime's field (RuntimeSettings); required for reach container and runtime.
    py: Py | None = None
    # The default the edge applies when the binding is unset (edge-side settings).
    edge_default: str | None = None
    # Durable Object class of a `durable_object` binding; the edge types the namespace by the
    # class's RPC interface, `<Class>Rpc` in agent/edge/src/rpc.ts.
    durable_object: str | None = None
    # A comment the generated Python field carries (why, not what).
    note: str | None = None

    @property
    def is_binding(self) -> bool:
        """Declared on the deployed Worker by infra."""
        return self.reach in ("edge", "container")

    @property
    def field(self) -> str:
        """The runtime field (and pydantic-settings env) name: the lowercase name."""
        return self.name.lower()


class ContractError(ValueError):
    """A declaration breaks a rule of the contract; the message names it and the rule."""


def _problems(setting: Setting) -> Iterable[str]:
    s = setting
    if not _NAME.fullmatch(s.name):
        yield "the name must be UPPER_SNAKE_CASE, e.g. AGENT_TIMEZONE"
    if not s.doc.strip():
        yield "doc must say what the setting means"
    if s.reach in ("container", "runtime") and s.py is None:
        yield f"reach {s.reach!r} needs py=Py(...): the runtime reads it"
    if s.reach in ("edge", "local") and s.py is not None:
        yield f"reach {s.reach!r} is not read by the runtime: drop py"
    if s.is_binding and (s.config is None) == (s.provided is None):
        yield "a binding needs exactly one of config= (a Pulumi key) or provided= (a resource)"
    if not s.is_binding and (s.config is not None or s.provided is not None):
        yield f"reach {s.reach!r} is no deployed binding: drop config/provided"
    if s.reach == "runtime" and s.set_by is None:
        yield "reach 'runtime' needs set_by= (who sets the variable, since no binding does)"
    if s.config is not None and not _CONFIG_KEY.fullmatch(s.config):
        yield "config is the camelCase key without namespace, e.g. agentTimezone"
    if (s.kind == "durable_object") != (s.durable_object is not None):
        yield "kind 'durable_object' and durable_object= (the class name) go together"
    if s.kind == "durable_object" and s.reach != "edge":
        yield "a Durable Object namespace stays at the edge"
    if s.kind == "secret" and s.py is not None and "SecretStr" not in s.py.annotation:
        yield "a secret the runtime reads must be typed SecretStr (its repr hides the value)"
    if s.kind != "durable_object" and not s.example:
        yield "example must give a valid value (shown beside every error about it)"


def check(settings: Iterable[Setting]) -> None:
    """Raise ContractError naming every declaration that breaks a rule, and the rule."""
    seen: set[str] = set()
    problems: list[str] = []
    for setting in settings:
        if setting.name in seen:
            problems.append(f"{setting.name}: declared twice")
        seen.add(setting.name)
        problems += [f"{setting.name}: {problem}" for problem in _problems(setting)]
    if problems:
        raise ContractError("invalid setting declarations:\n  " + "\n  ".join(problems))
