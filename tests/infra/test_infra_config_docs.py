"""docs/configuration.md's reference table matches the pydantic model it documents."""

from __future__ import annotations

from pathlib import Path

from infra.config import StackConfig, key_of
from infra.config_reference import render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_reference_table_is_the_generated_one() -> None:
    assert render() in PAGE.read_text(), (
        "docs/configuration.md is stale: run `make generate` "
        "(uv run python -m infra.config_reference --write)"
    )


def test_every_model_key_is_documented_once() -> None:
    text = PAGE.read_text()
    for name in StackConfig.model_fields:
        assert text.count(f"| `{key_of(name)}` |") == 1, name
