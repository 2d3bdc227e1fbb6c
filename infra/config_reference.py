"""The configuration reference table of docs/configuration.md, generated from StackConfig.

`uv run python -m infra.config_reference` prints it, `--write` puts it over the page's table (`make
generate` does that); a test fails when the page differs.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from infra.config import SECRET_FIELDS, StackConfig, key_of


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if annotation is typing.Any:
        return "any"
    names = {
        "str": "string",
        "int": "integer",
        "bool": "boolean",
        "SecretStr": "string",
        "Decimal": "number",
    }
    name = getattr(annotation, "__name__", str(annotation))
    return names.get(name, name)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "`[]`"
    if field.default is None:
        return "—"
    return f"`{json.dumps(field.default) if not isinstance(field.default, str) else field.default}`"


def _example(field: FieldInfo) -> str:
    value = (field.examples or [""])[0]
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def render() -> str:
    """The markdown table: key, type, default, secret?, example, meaning."""
    lines = [
        "| key | type | default | secret | example | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, field in StackConfig.model_fields.items():
        default = _default(field)
        if name in {"tenant", "environment"}:
            default = "from stack name"
        secret = "yes" if name in SECRET_FIELDS else "no"
        lines.append(
            f"| `{key_of(name)}` | {_type_name(field.annotation)} | {default} | {secret} "
            f"| {_example(field)} | {field.description} |"
        )
    return "\n".join(lines)


PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def write(page: Path = PAGE) -> None:
    """Replace the page's reference table (the block of table lines starting at its header)."""
    lines = page.read_text().split("\n")
    start = lines.index(render().split("\n")[0])
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    page.write_text("\n".join([*lines[:start], render(), *lines[end:]]))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(render())
