"""`python -m infra.verify --stack NAME [--org ORG]`: read the outputs, run the checks, report.

Exit status: 0 every check passed (skipped ones are fine), 1 at least one failed, 2 the stack or
its outputs could not be read.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import httpx

from infra.tenants.engine import Workspace
from infra.verify.checks import Probe, Result, Status, run_checks
from infra.verify.target import OutputsError, Target

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT_S = 15.0

WorkspaceFactory = Callable[[argparse.Namespace], Workspace]
ProbeFactory = Callable[[httpx.Client], Probe]


def _automation_workspace(args: argparse.Namespace) -> Workspace:
    from infra.tenants.automation import AutomationWorkspace  # needs the pulumi CLI

    return AutomationWorkspace(REPO_ROOT, organization=args.org)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.verify",
        description="Check a deployed edgeagent stack from outside, over HTTP.",
    )
    parser.add_argument("--stack", required=True, help="the deployed stack, e.g. dev")
    parser.add_argument("--org", help="Pulumi Cloud organization of the stack (optional)")
    return parser


def format_result(result: Result) -> list[str]:
    lines = [f"{result.status} {result.name} — {result.detail}"]
    if result.status is Status.FAIL and result.hint:
        lines.append(f"    fix: {result.hint}")
    return lines


def main(
    argv: Sequence[str] | None = None,
    *,
    workspace: WorkspaceFactory = _automation_workspace,
    probe: ProbeFactory = Probe,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    args = _parser().parse_args(argv)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    try:
        outputs = workspace(args).stack(args.stack, create=False).outputs()
    except Exception as err:  # the Automation API raises several kinds; all mean "cannot read"
        say(f"cannot read stack {args.stack!r}: {err}")
        say("    fix: `pulumi login` to the stack's backend, and check `pulumi stack ls`")
        return 2
    try:
        target = Target.from_outputs(outputs)
    except OutputsError as err:
        say(f"stack {args.stack!r}: {err}")
        return 2

    say(f"Verifying stack {args.stack} at {target.url}")
    start = clock()
    counts = dict.fromkeys(Status, 0)
    with httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
        checks = probe(client)
        checks.progress = say
        for result in run_checks(target, checks):
            counts[result.status] += 1
            for line in format_result(result):
                say(line)
    say(
        f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, "
        f"{counts[Status.SKIP]} skipped in {clock() - start:.1f} s"
    )
    return 1 if counts[Status.FAIL] else 0
