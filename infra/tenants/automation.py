"""`Workspace` backed by the Pulumi Automation API: one local-program stack per tenant environment.

Needs the `pulumi` CLI on PATH and a logged-in backend (Pulumi Cloud, or `PULUMI_BACKEND_URL`).
The program is this repository's `infra/` (from `Pulumi.yaml`), previewed and deployed with the
`infra/policy` pack; each stack's config is written
into `Pulumi.<tenant>-<env>.yaml` from the manifest before every operation, so the manifest stays
the source of truth.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from pulumi import automation as auto
from pydantic import SecretStr

from infra.tenants.engine import ChangeSummary, OnOutput, StackOutputs
from infra.tenants.manifest import PROJECT
from infra.tenants.stacks import ConfigEntry


def _counts(changes: Mapping[auto.OpType, int] | Mapping[str, int] | None) -> dict[str, int]:
    # Typed as OpType keys, but the summaries parsed from the CLI's JSON carry plain strings.
    return {
        op.value if isinstance(op, auto.OpType) else str(op): count
        for op, count in (changes or {}).items()
    }


class AutomationStack:
    """A selected Automation API stack."""

    def __init__(self, stack: auto.Stack, name: str, policy_packs: Sequence[str] = ()) -> None:
        self._stack = stack
        self._name = name
        self._policy_packs = list(policy_packs) or None

    @property
    def name(self) -> str:
        return self._name

    def set_config(self, config: Mapping[str, ConfigEntry]) -> None:
        stale = sorted(set(self._stack.get_all_config()) - set(config))
        if stale:
            self._stack.remove_all_config(stale)
        plain = {
            key: auto.ConfigValue(entry.value.get_secret_value())
            for key, entry in config.items()
            if not entry.secret
        }
        if plain:
            self._stack.set_all_config(plain)
        for key, entry in config.items():
            if entry.secret:
                self._set_secret(key, entry.value)

    def _set_secret(self, key: str, value: SecretStr) -> None:
        # The Automation API passes config values as command-line arguments, readable by every
        # process on the machine; a secret goes to `pulumi config set --secret` on stdin instead.
        workspace = self._stack.workspace
        env = {**os.environ, **workspace.env_vars}
        if workspace.pulumi_home:
            env["PULUMI_HOME"] = workspace.pulumi_home
        argv = [workspace.pulumi_command.command, "config", "set", key, "--secret"]
        argv += ["--stack", self._stack.name, "--non-interactive"]
        result = subprocess.run(  # noqa: S603 - argument list; key is a validated config key
            argv,
            input=value.get_secret_value(),
            cwd=workspace.work_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pulumi config set --secret {key} failed: {result.stderr.strip()}")

    def preview(self, on_output: OnOutput) -> ChangeSummary:
        result = self._stack.preview(
            diff=True, on_output=on_output, color="never", policy_packs=self._policy_packs
        )
        return _counts(result.change_summary)

    def up(self, on_output: OnOutput) -> ChangeSummary:
        # show_secrets=False keeps decrypted config out of the returned summary.
        result = self._stack.up(
            diff=True,
            on_output=on_output,
            color="never",
            show_secrets=False,
            policy_packs=self._policy_packs,
        )
        return _counts(result.summary.resource_changes)

    def destroy(self, on_output: OnOutput) -> ChangeSummary:
        result = self._stack.destroy(on_output=on_output, color="never", show_secrets=False)
        return _counts(result.summary.resource_changes)

    def refresh(self, on_output: OnOutput) -> ChangeSummary:
        result = self._stack.refresh(on_output=on_output, color="never", show_secrets=False)
        return _counts(result.summary.resource_changes)

    def outputs(self) -> StackOutputs:
        # Decrypted by the CLI (`pulumi stack output --json --show-secrets`); wrapped again here.
        return {
            name: _secret(output.value) if output.secret else output.value
            for name, output in self._stack.outputs().items()
        }


def _secret(value: object) -> SecretStr:
    return SecretStr(value if isinstance(value, str) else json.dumps(value))


class AutomationWorkspace:
    """Stacks of the Pulumi project in `work_dir`, optionally under a Pulumi Cloud organization."""

    def __init__(
        self,
        work_dir: Path,
        *,
        organization: str | None = None,
        secrets_provider: str | None = None,
        env_vars: Mapping[str, str] | None = None,
        policy_packs: Sequence[Path] = (),
        pulumi_command: auto.PulumiCommand | None = None,
    ) -> None:
        self._work_dir = work_dir
        self._organization = organization
        self._policy_packs = [str(path) for path in policy_packs]
        # pulumi_command: a CLI outside PATH (never `PulumiCommand.install`, which downloads).
        self._options = auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            secrets_provider=secrets_provider,
            env_vars=env_vars,
            pulumi_command=pulumi_command,
        )

    def _qualified(self, name: str) -> str:
        if self._organization:
            return f"{self._organization}/{PROJECT}/{name}"
        return name

    def stack(self, name: str, *, create: bool) -> AutomationStack:
        qualified = self._qualified(name)
        if create:
            stack = auto.create_or_select_stack(
                qualified, work_dir=str(self._work_dir), opts=self._options
            )
        else:
            stack = auto.select_stack(qualified, work_dir=str(self._work_dir), opts=self._options)
        return AutomationStack(stack, name, self._policy_packs)
