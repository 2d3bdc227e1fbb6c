"""`python -m infra.tenants list|plan|preview|up|destroy|refresh`: every tenant stack at once.

Exit status: 0 all stacks fine, 1 at least one stack failed (the others still ran), 2 bad
manifest or arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from infra.errors import BuildError
from infra.policy.validators import validate_plan
from infra.tenants.affected import affected, changed_paths, repository_stacks
from infra.tenants.engine import Operation, Workspace
from infra.tenants.errors import ManifestError, StackConfigError
from infra.tenants.manifest import Manifest, SecretFromEnv, load_manifest
from infra.tenants.planning import (
    Planner,
    TenantPlan,
    base_plans,
    collisions,
    plan_targets,
    state_token_problems,
    summary_table,
)
from infra.tenants.runner import Progress, format_table, run_all
from infra.tenants.runner import summary_table as run_summary
from infra.tenants.stacks import (
    ConfigEntry,
    StackTarget,
    automation_config,
    select_targets,
    stack_config,
)

WorkspaceFactory = Callable[[argparse.Namespace, Path], Workspace]
DEFAULT_JOBS = 4


def _default_planner() -> Planner:
    from infra.plan import plan_stack  # the offline plan of one stack (issue 2)

    return plan_stack


def _default_workspace(args: argparse.Namespace, root: Path) -> Workspace:
    from infra.tenants.automation import AutomationWorkspace

    return AutomationWorkspace(
        root,
        organization=args.org,
        secrets_provider=args.secrets_provider,
        policy_packs=[root / "infra" / "policy"],
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.tenants",
        description="Plan and deploy one edgeagent stack per tenant and environment.",
    )
    parser.add_argument(
        "--manifest", type=Path, default=Path("tenants.yaml"), help="default: tenants.yaml"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def selection(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--tenant", action="append", help="only this tenant (repeatable)")
        sub.add_argument("--env", action="append", help="only this environment (repeatable)")

    selection(commands.add_parser("list", help="every stack the manifest declares"))
    changes = commands.add_parser("affected", help="stacks a git change touches (for CI)")
    changes.add_argument("--base", required=True, help="git revision to compare with")
    changes.add_argument("--head", default="HEAD", help="default: HEAD")
    changes.add_argument("--format", choices=("json", "github"), default="json")
    plan = commands.add_parser("plan", help="offline plan of every stack, with checks")
    selection(plan)
    plan.add_argument("--format", choices=("table", "json"), default="table")
    for operation in Operation:
        sub = commands.add_parser(operation.value, help=f"pulumi {operation.value} per stack")
        selection(sub)
        sub.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="stacks at a time")
        sub.add_argument("--org", help="Pulumi Cloud organization (stack org/edgeagent/<name>)")
        sub.add_argument("--secrets-provider", help="e.g. passphrase or awskms://...")
        if operation is Operation.DESTROY:
            sub.add_argument("--yes", action="store_true", help="required: really destroy")
    return parser


def _list(manifest: Manifest, targets: Sequence[StackTarget], out: TextIO) -> int:
    rows = [("stack", "tenant", "env", "base", "overrides", "secrets from env")]
    for target in targets:
        tenant = manifest.tenants[target.tenant]
        layers = (manifest.defaults, tenant, tenant.environments[target.environment])
        keys = sorted({key for layer in layers for key in layer.config})
        secrets = sorted(
            value.secret_env
            for layer in layers
            for value in layer.config.values()
            if isinstance(value, SecretFromEnv)
        )
        rows.append(
            (
                target.name,
                target.tenant,
                target.environment,
                manifest.environments[target.environment].base,
                str(len(keys)),
                ", ".join(secrets) or "-",
            )
        )
    out.write(format_table(rows) + "\n")
    return 0


def _affected(root: Path, base: str, head: str, fmt: str, out: TextIO) -> int:
    result = affected(changed_paths(root, base, head), repository_stacks(root))
    if fmt == "github":
        # `key=value` lines for $GITHUB_OUTPUT.
        out.write(f"stacks={json.dumps(result.stacks)}\ntenants={json.dumps(result.tenants)}\n")
    else:
        out.write(json.dumps({"stacks": result.stacks, "tenants": result.tenants}) + "\n")
    return 0


def plan_report(
    plans: Sequence[TenantPlan], bases: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Plans plus every cross-stack and policy problem found in them."""
    problems: dict[str, list[str]] = {}
    for tenant_plan in plans:
        found: list[str] = []
        if tenant_plan.plan is None:
            found.append(tenant_plan.error)
        else:
            found += [
                f"policy {v.policy}: {v.resource}: {v.message}"
                for v in validate_plan(tenant_plan.plan)
            ]
            found += [f"state token: {p}" for p in state_token_problems(tenant_plan.plan)]
        if found:
            problems[tenant_plan.target.name] = found
    planned = {p.target.name: p.plan for p in plans if p.plan is not None}
    return {
        "stacks": planned,
        "problems": problems,
        "collisions": collisions({**planned, **(bases or {})}),
    }


def _plan(
    manifest: Manifest,
    targets: Sequence[StackTarget],
    root: Path,
    planner: Planner,
    fmt: str,
    out: TextIO,
) -> int:
    started = time.monotonic()
    plans = plan_targets(manifest, targets, root, planner)
    bases, notes = base_plans(manifest, (t.environment for t in targets), root, planner)
    report = plan_report(plans, bases)
    report["notes"] = notes
    elapsed = time.monotonic() - started
    if fmt == "json":
        out.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    else:
        out.write(summary_table(plans) + "\n")
        for stack, found in sorted(report["problems"].items()):
            for problem in found:
                out.write(f"\n[{stack}] {problem}")
        for collision in report["collisions"]:
            out.write(f"\nname collision: {collision}")
        for note in notes:
            out.write(f"\nnote: {note}")
        failed = len(report["problems"]) + bool(report["collisions"])
        out.write(
            f"\n{len(plans)} stacks planned in {elapsed:.1f} s; "
            f"{'all clean' if not failed else 'PROBLEMS FOUND'}\n"
        )
    return 1 if report["problems"] or report["collisions"] else 0


def _operate(
    args: argparse.Namespace,
    manifest: Manifest,
    targets: Sequence[StackTarget],
    root: Path,
    workspace_factory: WorkspaceFactory,
    environ: Mapping[str, str],
    out: TextIO,
) -> int:
    operation = Operation(args.command)
    if operation is Operation.DESTROY and not args.yes:
        raise ManifestError("destroy", ["refusing to destroy without --yes"])
    if args.jobs < 1:
        raise ManifestError("--jobs", [f"must be at least 1, got {args.jobs}; example: --jobs 4"])

    def config_for(target: StackTarget) -> Mapping[str, ConfigEntry]:
        return automation_config(stack_config(manifest, target, root), target, environ)

    workspace = workspace_factory(args, root)
    outcomes = run_all(
        workspace, targets, operation, config_for, jobs=args.jobs, progress=Progress(out)
    )
    out.write("\n" + run_summary(outcomes) + "\n")
    failed = [o.target.name for o in outcomes if not o.ok]
    if failed:
        out.write(f"{len(failed)} of {len(outcomes)} stacks failed: {', '.join(failed)}\n")
        return 1
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    planner: Planner | None = None,
    workspace_factory: WorkspaceFactory = _default_workspace,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the tenant tool; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    root = args.manifest.resolve().parent
    if args.command == "affected":
        try:
            return _affected(root, args.base, args.head, args.format, out)
        except (ValueError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            err.write(f"error: cannot list changed paths: {detail.strip()}\n")
            return 2
    try:
        manifest = load_manifest(args.manifest)
        targets = select_targets(manifest, args.tenant, args.env)
        if args.command == "list":
            return _list(manifest, targets, out)
        if args.command == "plan":
            return _plan(manifest, targets, root, planner or _default_planner(), args.format, out)
        return _operate(
            args, manifest, targets, root, workspace_factory, environ or os.environ, out
        )
    except (ManifestError, StackConfigError) as error:
        err.write(f"error: {error}\n")
        return 2
    except BuildError as error:  # the edge bundle every plan needs could not be built
        err.write(f"error: {error}\n")
        return 1
