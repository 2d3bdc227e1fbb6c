"""README's configuration reference matches the pydantic model it documents."""

from __future__ import annotations

import re
from pathlib import Path

from infra.config import StackConfig, key_of
from infra.config_reference import render

README = Path(__file__).resolve().parents[2] / "README.md"


def configuration_section() -> str:
    text = README.read_text()
    match = re.search(
        r"<!-- section:configuration[^>]*-->(.*?)<!-- /section:configuration -->", text, re.S
    )
    assert match is not None, "README has no configuration section"
    return match.group(1)


def test_readme_reference_table_is_the_generated_one() -> None:
    assert render() in configuration_section()


def test_every_model_key_is_documented_once() -> None:
    section = configuration_section()
    for name in StackConfig.model_fields:
        assert section.count(f"| `{key_of(name)}` |") == 1, name
