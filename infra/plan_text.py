"""The text form of an offline plan and of a plan diff, for people reading a terminal or a PR.

Resources are grouped under the component that owns them (the stack's own resources first),
long values are folded to one line each (`--format json` keeps every byte), values that only a
real deploy knows are marked `<mock …>`, and secrets print as `[secret]`. The JSON plan is the
contract; this module only presents it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from infra.placeholders import MOCK_PREFIX, SECRET, is_placeholder

WIDTH = 100  # fold anything wider than this
_INDENT = "      "
LEGEND = (
    "<mock …>: a placeholder for what only a deploy knows (ids, token values, the image digest);"
    " [secret]: never printed; folded values: --format json shows them whole"
)


def _short(type_token: str) -> str:
    """`cloudflare:index/r2Bucket:R2Bucket` → `cloudflare:R2Bucket`."""
    package, _, rest = type_token.partition(":")
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if rest else type_token


class _Shower:
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def value(self, value: Any) -> str:
        """One-line rendering with placeholders marked."""
        if isinstance(value, str):
            if value == SECRET:
                return SECRET
            if is_placeholder(value, self.names):
                return f"<mock {value.removeprefix(MOCK_PREFIX)}>"
            return json.dumps(value)
        if isinstance(value, Mapping):
            items = ", ".join(f"{json.dumps(k)}: {self.value(v)}" for k, v in sorted(value.items()))
            return "{" + items + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.value(item) for item in value) + "]"
        return json.dumps(value)

    def lines(self, key: str, value: Any, indent: str) -> list[str]:
        """`key = value`, folded onto several lines (and truncated there) when too wide."""
        flat = f"{indent}{key} = {self.value(value)}"
        if len(flat) <= WIDTH:
            return [flat]
        if isinstance(value, list) and value:
            head = [f"{indent}{key}: {len(value)} item{'s' if len(value) != 1 else ''}"]
            return head + [line for item in value for line in self.item(item, indent + "  ")]
        if isinstance(value, Mapping) and value:
            head = [f"{indent}{key}:"]
            return head + [
                line for k, v in sorted(value.items()) for line in self.lines(k, v, indent + "  ")
            ]
        return [_fold(flat)]

    def item(self, value: Any, indent: str) -> list[str]:
        """A list item: `- value`, or its keys one per line (YAML-like) when too wide."""
        flat = f"{indent}- {self.value(value)}"
        if len(flat) <= WIDTH or not isinstance(value, Mapping) or not value:
            return [_fold(flat)]
        inner = [line for k, v in sorted(value.items()) for line in self.lines(k, v, indent + "  ")]
        return [indent + "- " + inner[0].removeprefix(indent + "  "), *inner[1:]]


def _fold(line: str) -> str:
    if len(line) <= WIDTH:
        return line
    return line[: WIDTH - 1] + "…"


def _components(resources: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(component name, type) in display order: the stack first, then by name."""
    found = [(r["name"], r["type"]) for r in resources if r["type"].startswith("edgeagent:")]
    return sorted(found, key=lambda item: (item[0] != "edgeagent", item[0]))


def render_text(plan: Mapping[str, Any]) -> str:
    """Human-readable plan: each component with its resources and inputs, then the outputs."""
    resources: Sequence[Mapping[str, Any]] = plan["resources"]
    show = _Shower(frozenset(r["name"] for r in resources))
    components = _components(resources)
    owned = {name for name, _ in components}
    lines = [
        f"stack {plan['stack']}: {len(resources)} resources in {len(components)} components",
        LEGEND,
    ]
    groups: list[tuple[str, list[Mapping[str, Any]]]] = [
        (f"{name}  ({type_.rsplit(':', 1)[-1]})", [r for r in resources if r["parent"] == name])
        for name, type_ in components
    ]
    orphans = [r for r in resources if r["parent"] not in owned and r["name"] not in owned]
    if orphans:
        groups.insert(0, ("(stack)", orphans))
    for title, members in groups:
        children = [r for r in members if r["name"] not in owned]
        if not children:
            continue
        lines += ["", title]
        for resource in children:
            lines.append(f"  + {_short(resource['type'])}  {resource['name']}")
            for key, value in sorted(resource["inputs"].items()):
                lines += show.lines(key, value, _INDENT)
    lines += ["", "outputs:"]
    for key, value in plan["outputs"].items():
        lines += show.lines(key, value, "  ")
    return "\n".join(lines)


def render_diff_text(diff: Mapping[str, Any]) -> str:
    """Human-readable diff: added, removed, then changed resources with the changed input paths."""
    lines = [f"+ {r['type']}  {r['name']}" for r in diff["added"]]
    lines += [f"- {r['type']}  {r['name']}" for r in diff["removed"]]
    for r in diff["changed"]:
        lines.append(f"~ {r['type']}  {r['name']}")
        lines += [f"    {path}" for path in r["paths"]]
    total = len(diff["added"]) + len(diff["removed"]) + len(diff["changed"])
    lines.append(
        f"{len(diff['added'])} to add, {len(diff['removed'])} to remove, "
        f"{len(diff['changed'])} to change"
        if total
        else "no changes"
    )
    return "\n".join(lines)
