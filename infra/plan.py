"""Offline plan: run the real program under recording mocks and print the desired state.

`python -m infra.plan --stack dev [--config-file PATH] [--format text|json] [--diff OLD.json]`
needs no Pulumi CLI, no credentials and no passphrase: `secure:` values are never decrypted,
they count as present and print as "[secret]", as does every value the program marks secret.
`plan_stack()` is the same engine as a pure function, safe to call many times in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra.config import StackConfig, load_config
from infra.cost import estimate_monthly_cost
from infra.edge_bundle import resolve_bundle
from infra.errors import BuildError, ConfigError
from infra.paths import REPO_ROOT
from infra.placeholders import SECRET
from infra.plan_text import render_diff_text, render_text
from infra.pulumi_internals import finish_offline, is_secret_value, run_offline, sync_await

PROJECT = "edgeagent"


def config_values(config: Mapping[str, object]) -> tuple[dict[str, str], set[str]]:
    """Stack-file config as a program receives it: strings (JSON for structures), secret keys."""
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, raw in config.items():
        if isinstance(raw, Mapping) and set(raw) == {"secure"}:
            values[key] = SECRET
            secret_keys.add(key)
        elif isinstance(raw, str):
            values[key] = raw
        else:
            values[key] = json.dumps(raw)
    return values, secret_keys


def _redact(value: Any) -> Any:
    if is_secret_value(value):
        return SECRET
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    # Printed as declared: no input holds the checkout's path (infra/paths.py), so plans from
    # two clones are byte-identical without rewriting anything here.
    return value


async def _resolve_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, value in outputs.items():
        output = pulumi.Output.from_input(value)
        secret = await output.is_secret()
        resolved[name] = SECRET if secret else _redact(await output.future())
    return resolved


def run_with_mocks(
    stack: str,
    program: Callable[[], None],
    values: Mapping[str, str] | None = None,
    secret_keys: Collection[str] = (),
    live_scripts: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Run `program` under recording mocks in a fresh Pulumi runtime; return the plan document.

    `live_scripts` is what the account is taken to hold: Worker name -> its live Durable Object
    classes (none: a first deploy).

    Each run gets its own thread, hence its own event loop and an empty contextvars context:
    Pulumi keeps its settings, config and root stack there, so runs never see each other and
    the caller's event loop is never touched.
    """
    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def target() -> None:
        # The mock monitor runs in executor threads and makes an event loop in each of them;
        # give every worker its loop up front so all of them are closed when the run ends.
        worker_loops: list[asyncio.AbstractEventLoop] = []

        def init_worker() -> None:
            worker_loop = asyncio.new_event_loop()
            asyncio.set_event_loop(worker_loop)
            worker_loops.append(worker_loop)

        loop = asyncio.new_event_loop()
        executor = ThreadPoolExecutor(max_workers=4, initializer=init_worker)
        loop.set_default_executor(executor)
        asyncio.set_event_loop(loop)
        try:
            result.update(
                _run(stack, dict(values or {}), set(secret_keys), program, live_scripts or {})
            )
        except BaseException as exc:
            failure.append(exc)
        finally:
            executor.shutdown(wait=True)
            for worker_loop in worker_loops:
                worker_loop.close()
            loop.close()

    thread = threading.Thread(target=target, name=f"plan-{stack}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result


def _run(
    stack: str,
    values: dict[str, str],
    secret_keys: set[str],
    program: Callable[[], None],
    live_scripts: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    from infra.mocks import RecordingMocks, RecordingMonitor  # imports the provider SDK (slow)

    mocks = RecordingMocks(live_scripts=live_scripts)

    def start() -> None:
        pulumi.runtime.set_all_config(values, sorted(secret_keys))
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=stack, preview=False, monitor=RecordingMonitor(mocks)
        )

    root_outputs = run_offline(program, start)
    outputs = sync_await(_resolve_outputs(root_outputs))
    finish_offline()
    resources = sorted(
        (
            {
                "type": reg.type,
                "name": reg.name,
                "parent": reg.parent,
                "inputs": _redact(reg.inputs),
                "dependsOn": list(reg.depends_on),
            }
            for reg in mocks.registrations
        ),
        key=lambda r: (r["type"], r["name"]),
    )
    return {"stack": stack, "resources": resources, "outputs": dict(sorted(outputs.items()))}


def plan_stack(
    stack: str,
    config: Mapping[str, object],
    *,
    edge_dist: Path | None = None,
    live_classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The desired state of `stack` with this stack-file `config:` mapping, as the JSON plan.

    By default the stack's Worker does not exist yet (a first deploy); `live_classes` plans a
    later deploy to a Worker that already has those Durable Object classes.
    """
    values, secret_keys = config_values(config)
    # Fail with every bad key before declaring anything.
    names = load_config(stack, values, secret_keys).names
    bundle = resolve_bundle(edge_dist)

    def program() -> None:
        from infra.program import main

        main(bundle.dist_dir)

    live = {} if live_classes is None else {names.worker: live_classes}
    return run_with_mocks(stack, program, values, secret_keys, live)


def _paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Input paths whose values differ, e.g. `bindings[3].text`."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths: list[str] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{prefix}.{key}" if prefix else key
            paths += _paths(old.get(key), new.get(key), sub) if key in old and key in new else [sub]
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        paths = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            paths += _paths(a, b, f"{prefix}[{index}]")
        return paths
    return [] if old == new else [prefix or "."]


def diff_plans(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Resources added, removed and changed (with the changed input paths) from old to new."""

    def index(plan: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["type"], r["name"]): r for r in plan["resources"]}

    before, after = index(old), index(new)
    changed = []
    for key in sorted(before.keys() & after.keys()):
        paths = _paths(before[key]["inputs"], after[key]["inputs"])
        if before[key]["parent"] != after[key]["parent"]:
            paths.insert(0, "(parent)")
        if paths:
            changed.append({"type": key[0], "name": key[1], "paths": paths})
    return {
        "added": [{"type": t, "name": n} for t, n in sorted(after.keys() - before.keys())],
        "removed": [{"type": t, "name": n} for t, n in sorted(before.keys() - after.keys())],
        "changed": changed,
    }


def read_stack_config(path: Path) -> dict[str, object]:
    """The `config:` mapping of a Pulumi stack file."""
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ValueError(f"{path} is not a Pulumi stack file (expected a top-level `config:` map)")
    config: dict[str, object] = document.get("config") or {}
    return config


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit code (2 for bad config)."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.plan", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev or acme-prod")
    parser.add_argument(
        "--config-file", type=Path, help="stack config file (default Pulumi.<stack>.yaml)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--diff", type=Path, metavar="OLD.json", help="compare with an earlier json plan"
    )
    parser.add_argument("--edge-dist", type=Path, help="use this built edge dist directory as is")
    parser.add_argument(
        "--live-classes",
        metavar="A,B",
        help="plan a later deploy: the Worker already has these Durable Object classes "
        "(default: a first deploy, the Worker does not exist yet)",
    )
    args = parser.parse_args(argv)
    live_classes = (
        None if args.live_classes is None else [c for c in args.live_classes.split(",") if c]
    )

    config_file = args.config_file or REPO_ROOT / f"Pulumi.{args.stack}.yaml"
    try:
        config = read_stack_config(config_file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"error: cannot read stack config: {exc}", file=sys.stderr)
        return 2
    try:
        plan = plan_stack(args.stack, config, edge_dist=args.edge_dist, live_classes=live_classes)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.diff is not None:
        old = json.loads(args.diff.read_text())
        diff = diff_plans(old, plan)
        out = (
            json.dumps(diff, indent=2, sort_keys=True)
            if args.format == "json"
            else render_diff_text(diff)
        )
    elif args.format == "json":
        out = json.dumps(plan, indent=2, sort_keys=True)
    else:
        cfg = load_config(args.stack, *config_values(config))
        cost = estimate_monthly_cost(cfg.instance_type, cfg.max_instances, cfg.sleep_after)
        out = "\n".join([render_text(plan), "", spend_limits_line(cfg), *cost.lines()])
    print(out)
    return 0


def spend_limits_line(cfg: StackConfig) -> str:
    """The model spend limits in force, as `infra.plan` prints them beside the container cost."""
    parts = [
        f"${amount:.2f}{unit}"
        for amount, unit in (
            (cfg.spend_limit_daily_usd, "/day"),
            (cfg.spend_limit_monthly_usd, "/30 days"),
            (cfg.user_spend_limit_daily_usd, "/person/day"),
        )
        if amount is not None
    ]
    if not parts:
        return "model spend limits: none (set edgeagent:spendLimitDailyUsd; docs/costs.md)"
    return f"model spend limits (AI Gateway): {', '.join(parts)} (docs/costs.md)"


if __name__ == "__main__":
    sys.exit(main())
