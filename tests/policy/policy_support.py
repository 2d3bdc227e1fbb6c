"""The shipped stack files planned by `infra.plan`, and helpers to break a plan on purpose."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # pulumi_cloudflare warns at import about its own deprecated aliases (AccessApplication, ...);
    # not ours to fix, and `filterwarnings = error` would make that import fail.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_cloudflare\.")
    import pulumi_cloudflare  # noqa: F401

from infra.plan import plan_stack, read_stack_config

REPO = Path(__file__).resolve().parents[2]
# The edge bundle fixture of the infra tests: planning needs a bundle, not a fresh npm build.
EDGE_DIST = REPO / "tests" / "infra" / "fixtures" / "edge-dist"


def planned(stack: str) -> dict[str, Any]:
    config = read_stack_config(REPO / f"Pulumi.{stack}.yaml")
    return plan_stack(stack, config, edge_dist=EDGE_DIST)


def resource(plan: dict[str, Any], kind: str, name_suffix: str = "") -> dict[str, Any]:
    """The one resource of a type (class name) whose logical name ends with `name_suffix`."""
    found = [
        r
        for r in plan["resources"]
        if r["type"].rsplit(":", 1)[-1] == kind and r["name"].endswith(name_suffix)
    ]
    assert len(found) == 1, [r["name"] for r in found]
    return dict(found[0])


def edited(plan: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A deep copy of `plan` with `change` applied to it."""
    copied = copy.deepcopy(plan)
    change(copied)
    return copied


def in_place(plan: dict[str, Any], kind: str, name_suffix: str = "") -> dict[str, Any]:
    """The resource itself (not a copy) for editing inside `edited`."""
    for r in plan["resources"]:
        if r["type"].rsplit(":", 1)[-1] == kind and r["name"].endswith(name_suffix):
            return r
    raise AssertionError(f"no {kind} resource ending with {name_suffix!r}")


def add(plan: dict[str, Any], kind: str, name: str, inputs: dict[str, Any]) -> None:
    plan["resources"].append(
        {"type": f"cloudflare:index/x:{kind}", "name": name, "parent": None, "inputs": inputs}
    )


def token_scope(plan: dict[str, Any], token_suffix: str) -> dict[str, Any]:
    token = resource(plan, "AccountToken", token_suffix)
    scope: dict[str, Any] = json.loads(token["inputs"]["policies"][0]["resources"])
    return scope
