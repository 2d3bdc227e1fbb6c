"""A stand-in `pulumi` executable for the Automation API: no CLI can be installed here.

It answers the commands `pulumi.automation` issues for select/create stack, config and the four
operations, keeps stacks and their config in `state.json` next to it, and appends every argv it
receives to `calls.jsonl`. A stack listed in `state["fail"]` fails its operations the way the
CLI does (stderr, exit 255). Only what the tenant tool uses is emulated.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = "v3.200.0"  # <= 3.205: the Automation API then reads engine events from a log file
OPERATIONS = ("preview", "up", "destroy", "refresh")


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    args = [a for a in argv[1:] if a != "--non-interactive"]
    with (root / "calls.jsonl").open("a") as log:
        log.write(json.dumps(args) + "\n")
    state_file = root / "state.json"
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    stacks: dict[str, dict[str, Any]] = state.setdefault("stacks", {})
    stack = option(args, "--stack")

    def save() -> None:
        state_file.write_text(json.dumps(state))

    def missing() -> int:
        print(f"error: no stack named '{stack}' found", file=sys.stderr)
        return 255

    if args == ["version"]:
        print(VERSION)
        return 0
    if args[:2] == ["stack", "select"]:
        return 0 if stack in stacks else missing()
    if args[:2] == ["stack", "init"]:
        stacks[args[2]] = {"config": {}, "secretsProvider": option(args, "--secrets-provider")}
        save()
        return 0
    if stack not in stacks:
        return missing()
    config: dict[str, dict[str, Any]] = stacks[stack]["config"]
    if args[:1] == ["config"] and "--json" in args:
        print(json.dumps(config))
        return 0
    if args[:2] == ["config", "set-all"]:
        for flag, pair in itertools.pairwise(args):
            if flag in ("--plaintext", "--secret"):
                key, _, value = pair.partition("=")
                config[key] = {"value": value, "secret": flag == "--secret"}
        save()
        return 0
    if args[:2] == ["config", "set"] and "--secret" in args:
        # `pulumi config set KEY --secret` without a value reads it from stdin.
        config[args[2]] = {"value": sys.stdin.read().removesuffix("\n"), "secret": True}
        save()
        return 0
    if args[:2] == ["config", "rm-all"]:
        for key in args[2:]:
            config.pop(key, None)
        save()
        return 0
    if args[:2] == ["stack", "output"]:
        print("{}")
        return 0
    if args[:2] == ["stack", "history"]:
        print(json.dumps(stacks[stack].get("history", [])[:1]))
        return 0
    if args[0] in OPERATIONS:
        return operate(args[0], args, stack, stacks, state.get("fail", []), save)
    print(f"fake pulumi: unhandled {args}", file=sys.stderr)
    return 2


def operate(
    command: str,
    args: list[str],
    stack: str | None,
    stacks: dict[str, dict[str, Any]],
    failing: list[str],
    save: Any,
) -> int:
    print(f"{command.capitalize()}ing (fake) {stack}")
    tenant = stacks[str(stack)]["config"].get("edgeagent:tenant", {}).get("value")
    print(f"    edgeagent:tenant = {tenant}")
    if stack in failing:
        print(f"error: {command} of {stack} failed: 403 Forbidden", file=sys.stderr)
        return 255
    changes = {"create": 3, "same": 1} if command != "destroy" else {"delete": 4}
    event_log = option(args, "--event-log")
    if event_log is not None:
        event = {"sequence": 1, "timestamp": int(time.time()), "summaryEvent": {
            "maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": changes,
            "PolicyPacks": {},
        }}  # fmt: skip
        with open(event_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(event) + "\n")
    if command != "preview":
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        stacks[str(stack)]["history"] = [{
            "kind": command, "startTime": now, "endTime": now, "message": "",
            "environment": {}, "config": {}, "result": "succeeded", "version": 1,
            "resourceChanges": changes,
        }]  # fmt: skip
        save()
    return 0


def locked_main(argv: list[str]) -> int:
    # The tenant tool runs stacks in parallel: serialize access to state.json.
    with (Path(argv[0]) / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return main(argv)


if __name__ == "__main__":
    sys.exit(locked_main(sys.argv[1:]))
