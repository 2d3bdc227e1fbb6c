"""`python -m infra.tenants plan`: every tenant stack planned offline through `infra.plan`."""

from __future__ import annotations

import functools
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    # pulumi_cloudflare warns at import about its own deprecated aliases (AccessApplication, ...);
    # not ours to fix, and `filterwarnings = error` would make that import fail.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_cloudflare\.")
    import pulumi_cloudflare  # noqa: F401

from infra.plan import plan_stack
from infra.tenants.cli import main
from infra.tenants.planning import state_token_problems

REPO = Path(__file__).resolve().parents[2]
EDGE_DIST = REPO / "tests" / "infra" / "fixtures" / "edge-dist"
PLANNER = functools.partial(plan_stack, edge_dist=EDGE_DIST)
TENANTS = 50


def write_manifest(root: Path, tenants: dict[str, Any]) -> Path:
    manifest = root / "tenants.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "environments": {
                    "dev": {"base": str(REPO / "Pulumi.dev.yaml")},
                    "prod": {"base": str(REPO / "Pulumi.prod.yaml")},
                },
                "tenants": tenants,
            }
        )
    )
    return manifest


def prod_tenant(tenant_id: str, index: int, **config: Any) -> dict[str, Any]:
    return {
        "config": {"allowedEmails": [f"owner@{tenant_id}.example"], **config},
        "environments": {
            "dev": {},
            "prod": {
                "config": {
                    "hostname": f"agent.{tenant_id}.example",
                    "zoneId": f"{index:032x}",
                }
            },
        },
    }


def plan(manifest: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--manifest", str(manifest), "plan", *argv], planner=PLANNER, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_fifty_tenants_plan_offline_without_collisions(tmp_path: Path) -> None:
    tenants = {f"tenant-{i:02d}": prod_tenant(f"tenant-{i:02d}", i) for i in range(TENANTS)}
    manifest = write_manifest(tmp_path, tenants)
    code, out, err = plan(manifest, "--format", "json")
    assert code == 0, (err, out[-2000:])
    report = json.loads(out)
    assert report["problems"] == {}
    assert report["collisions"] == []
    stacks = report["stacks"]
    assert len(stacks) == 2 * TENANTS

    # Independently of the tool's own checks: names are distinct, each token reaches its bucket.
    seen: dict[tuple[str, str], str] = {}
    for name, stack in stacks.items():
        tenant, env = name.rsplit("-", 1)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in stack["resources"]:
            if not resource["type"].startswith("cloudflare:"):
                continue
            by_type.setdefault(resource["type"].rsplit(":", 1)[-1], []).append(resource["inputs"])
        [bucket] = by_type["R2Bucket"]
        [worker] = by_type["Worker"]
        [gateway] = by_type["AiGateway"]
        assert bucket["name"] == f"edgeagent-{tenant}-{env}"
        for key in (
            ("bucket", bucket["name"]),
            ("worker", worker["name"]),
            ("gateway", gateway["aiGatewayId"]),
        ):
            assert key not in seen, f"{key} of {name} also in {seen.get(key)}"
            seen[key] = name
        state = [
            token
            for token in by_type["AccountToken"]
            if "r2.bucket" in token["policies"][0]["resources"]
        ]
        [token] = state
        scopes = [json.loads(p["resources"]) for p in token["policies"]]
        jurisdiction = bucket.get("jurisdiction") or "default"
        own = f"com.cloudflare.edge.r2.bucket.{bucket['accountId']}_{jurisdiction}_{bucket['name']}"
        assert scopes == [{own: "*"}], name


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_table_summary_names_each_stack(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, {"acme": prod_tenant("acme", 1)})
    code, out, _ = plan(manifest)
    assert code == 0, out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:4]}
    assert rows["acme-dev"][1:6] == [
        "ok",
        rows["acme-dev"][2],
        "edgeagent-acme-dev",
        "edgeagent-acme-dev",
        "https://edgeagent-acme-dev.example-team.workers.dev",
    ]
    assert rows["acme-prod"][5] == "https://agent.acme.example"
    assert re.search(r"^2 stacks planned in [0-9.]+ s; all clean$", out, re.M)


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_two_tenants_on_one_hostname_collide(tmp_path: Path) -> None:
    tenants = {"acme": prod_tenant("acme", 1), "globex": prod_tenant("globex", 2)}
    tenants["globex"]["environments"]["prod"]["config"]["hostname"] = "agent.acme.example"
    manifest = write_manifest(tmp_path, tenants)
    code, out, _ = plan(manifest, "--format", "json")
    assert code == 1
    collisions = json.loads(out)["collisions"]
    assert (
        "WorkersCustomDomain.hostname 'agent.acme.example' is declared by acme-prod, globex-prod"
        in collisions
    )
    assert (
        "ZeroTrustAccessApplication.domain 'agent.acme.example' is declared by acme-prod, "
        "globex-prod"
    ) in collisions


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_a_bad_tenant_config_fails_only_that_stack(tmp_path: Path) -> None:
    tenants = {
        "acme": prod_tenant("acme", 1, sleepAfter="soon"),
        "globex": prod_tenant("globex", 2),
    }
    manifest = write_manifest(tmp_path, tenants)
    code, out, _ = plan(manifest)
    assert code == 1
    assert re.search(
        r"^acme-dev\s+FAILED\s+-\s+invalid configuration for stack 'acme-dev'", out, re.M
    )
    assert "edgeagent:sleepAfter: must be a duration such as `10m`, or `never`" in out
    assert re.search(r"^globex-prod\s+ok\s+\d+\s+edgeagent-globex-prod", out, re.M)
    assert "PROBLEMS FOUND" in out


def test_plan_never_needs_the_secrets(tmp_path: Path) -> None:
    tenant = prod_tenant("acme", 1)
    tenant["config"]["slackBotToken"] = {"secretEnv": "ACME_SLACK_BOT"}
    tenant["config"]["slackSigningSecret"] = {"secretEnv": "ACME_SLACK_SIGNING"}
    manifest = write_manifest(tmp_path, {"acme": tenant})
    code, out, _ = plan(manifest, "--format", "json", "--env", "prod")
    assert code == 0, out
    [version] = [
        r
        for r in json.loads(out)["stacks"]["acme-prod"]["resources"]
        if r["type"].endswith("WorkerVersion")
    ]
    bindings = {b["name"]: b for b in version["inputs"]["bindings"]}
    assert bindings["SLACK_BOT_TOKEN"] == {
        "name": "SLACK_BOT_TOKEN",
        "type": "secret_text",
        "text": "[secret]",
    }


def test_a_tenant_on_the_base_stacks_hostname_collides_with_it(tmp_path: Path) -> None:
    tenant = prod_tenant("acme", 1)
    del tenant["environments"]["prod"]["config"]["hostname"]  # inherits agent.example.com
    manifest = write_manifest(tmp_path, {"acme": tenant})
    code, out, _ = plan(manifest, "--format", "json", "--env", "prod")
    assert code == 1
    assert (
        "WorkersCustomDomain.hostname 'agent.example.com' is declared by acme-prod, "
        "prod (Pulumi.prod.yaml)"
    ) in json.loads(out)["collisions"]


def test_a_base_file_that_does_not_plan_alone_is_only_noted(tmp_path: Path) -> None:
    base = tmp_path / "Pulumi.dev.yaml"
    config = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    del config["edgeagent:allowedEmails"]  # left to the tenants
    base.write_text(yaml.safe_dump({"config": config}))
    manifest = tmp_path / "tenants.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "environments": {"dev": {"base": "Pulumi.dev.yaml"}},
                "tenants": {
                    "acme": {"environments": ["dev"], "config": {"allowedEmails": ["a@b.cd"]}}
                },
            }
        )
    )
    code, out, _ = plan(manifest)
    assert code == 0, out
    assert "note: base stack dev (Pulumi.dev.yaml) not compared: invalid configuration" in out


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_state_token_must_reach_exactly_its_own_bucket() -> None:
    planned = PLANNER("acme-dev", yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"])
    assert state_token_problems(planned) == []
    [token] = [r for r in planned["resources"] if r["name"].endswith("storage-token")]
    token["inputs"]["policies"] = []
    assert state_token_problems(planned) == ["no token grants access to this stack's bucket"]
    bucket = next(r for r in planned["resources"] if r["type"].endswith(":R2Bucket"))
    second = {**bucket, "name": "second", "inputs": {**bucket["inputs"], "name": "other"}}
    planned["resources"].append(second)
    token["inputs"]["policies"] = [
        {"effect": "allow", "permissionGroups": [], "resources": json.dumps({
            f"com.cloudflare.edge.r2.bucket.{bucket['inputs']['accountId']}_default_other": "*"
        })}
    ]  # fmt: skip
    [problem] = state_token_problems(planned)
    assert problem.startswith(f"{token['name']} grants ['com.cloudflare.edge.r2.bucket.")
