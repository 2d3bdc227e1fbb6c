"""A setting declaration that breaks a rule fails at import, naming the setting and the rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.contract.model import ContractError, Py, Setting, check
from agent.contract.settings import BY_NAME, SETTINGS

ONE_SOURCE = "exactly one of config= (a Pulumi key) or provided="
GOOD = Setting(
    name="AGENT_GREETING",
    reach="container",
    config="agentGreeting",
    doc="the first line the agent says",
    example="Hello!",
    py=Py(annotation="str", default='"Hi"'),
)


def test_the_declarations_keep_every_rule() -> None:
    check(SETTINGS)
    check([*SETTINGS, GOOD])


@pytest.mark.parametrize(
    ("setting", "rule"),
    [
        (replace(GOOD, name="agent-greeting"), "the name must be UPPER_SNAKE_CASE"),
        (replace(GOOD, py=None), "reach 'container' needs py=Py(...)"),
        (replace(GOOD, reach="edge"), "reach 'edge' is not read by the runtime: drop py"),
        (replace(GOOD, provided="a resource"), ONE_SOURCE),
        (replace(GOOD, config=None), ONE_SOURCE),
        (replace(GOOD, reach="runtime"), "reach 'runtime' is no deployed binding"),
        (replace(GOOD, config="agent_greeting"), "config is the camelCase key"),
        (replace(GOOD, kind="secret"), "must be typed SecretStr"),
        (replace(GOOD, example=""), "example must give a valid value"),
        (replace(GOOD, doc=" "), "doc must say what the setting means"),
        (replace(GOOD, kind="durable_object"), "kind 'durable_object' and durable_object="),
        (
            replace(GOOD, reach="runtime", config=None),
            "reach 'runtime' needs set_by=",
        ),
    ],
)
def test_a_broken_declaration_names_itself_and_the_rule(setting: Setting, rule: str) -> None:
    with pytest.raises(ContractError) as caught:
        check([setting])
    assert f"{setting.name}: " in str(caught.value)
    assert rule in str(caught.value)


def test_a_name_declared_twice_is_refused() -> None:
    with pytest.raises(ContractError, match="AGENT_TIMEZONE: declared twice"):
        check([*SETTINGS, BY_NAME["AGENT_TIMEZONE"]])
