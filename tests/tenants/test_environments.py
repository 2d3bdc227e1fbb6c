"""dev and prod differ as docs/tenants.md says, and the shipped tenant manifest plans clean."""

from __future__ import annotations

import functools
import io
import re
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # pulumi_cloudflare warns at import about its own deprecated aliases (AccessApplication, ...);
    # not ours to fix, and `filterwarnings = error` would make that import fail.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_cloudflare\.")
    import pulumi_cloudflare  # noqa: F401

import pytest

from infra.plan import plan_stack, read_stack_config
from infra.tenants.cli import main

REPO = Path(__file__).resolve().parents[2]
EDGE_DIST = REPO / "tests" / "infra" / "fixtures" / "edge-dist"


def planned(name: str) -> dict[str, list[dict[str, Any]]]:
    """Inputs of each planned Cloudflare resource of a shipped stack, by class name."""
    plan = plan_stack(name, read_stack_config(REPO / f"Pulumi.{name}.yaml"), edge_dist=EDGE_DIST)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in plan["resources"]:
        if resource["type"].startswith("cloudflare:"):
            kind = resource["type"].rsplit(":", 1)[-1]
            by_type.setdefault(kind, []).append(resource["inputs"])
    return by_type


def hours(duration: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match is not None, duration
    return int(match.group(1)) / {"s": 3600, "m": 60, "h": 1}[match.group(2)]


def binding(stack: dict[str, list[dict[str, Any]]], name: str) -> str:
    [version] = stack["WorkerVersion"]
    [found] = [b["text"] for b in version["bindings"] if b["name"] == name]
    return str(found)


def agent_app(stack: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    [app] = [a for a in stack["ZeroTrustAccessApplication"] if "/" not in a["domain"]]
    return app


def expiry_days(stack: dict[str, list[dict[str, Any]]]) -> float:
    [lifecycle] = stack["R2BucketLifecycle"]
    ages = [
        rule["deleteObjectsTransition"]["condition"]["maxAge"]
        for rule in lifecycle["rules"]
        if "deleteObjectsTransition" in rule
    ]
    return float(max(ages)) / 86400


def test_prod_differs_from_dev_as_documented() -> None:
    dev, prod = planned("dev"), planned("prod")
    # custom domain in prod, workers.dev in dev
    assert "WorkersCustomDomain" not in dev
    assert dev["Worker"][0]["subdomain"]["enabled"] is True
    assert [d["hostname"] for d in prod["WorkersCustomDomain"]] == ["agent.example.com"]
    assert prod["Worker"][0]["subdomain"]["enabled"] is False
    # a stricter Access session, and a shorter-lived automation token
    assert hours(agent_app(prod)["sessionDuration"]) < hours(agent_app(dev)["sessionDuration"])
    [dev_token], [prod_token] = (
        dev["ZeroTrustAccessServiceToken"],
        prod["ZeroTrustAccessServiceToken"],
    )
    assert hours(prod_token["duration"]) < hours(dev_token["duration"])
    # no sleep, or a longer sleep-after
    prod_sleep, dev_sleep = binding(prod, "SLEEP_AFTER"), binding(dev, "SLEEP_AFTER")
    assert prod_sleep == "never" or hours(prod_sleep) > hours(dev_sleep)
    # retention: gateway logs kept, backups kept longer
    assert prod["AiGateway"][0]["collectLogs"] is True
    assert expiry_days(prod) > expiry_days(dev)


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_shipped_tenant_manifest_plans_clean() -> None:
    out, err = io.StringIO(), io.StringIO()
    planner = functools.partial(plan_stack, edge_dist=EDGE_DIST)
    code = main(
        ["--manifest", str(REPO / "tenants.yaml"), "plan"], planner=planner, out=out, err=err
    )
    assert code == 0, out.getvalue() + err.getvalue()
    stacks = [line.split()[0] for line in out.getvalue().splitlines()[2:] if line.strip()][:4]
    assert stacks == ["acme-dev", "acme-prod", "globex-prod", "initech-dev"]
    assert out.getvalue().rstrip().endswith("all clean")
