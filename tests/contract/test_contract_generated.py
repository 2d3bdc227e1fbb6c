"""The generated files hold exactly what the setting declarations give (`make generate`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.contract import generate, render
from agent.contract.settings import SETTINGS
from agent.runtime.settings import RuntimeSettings


def test_no_generated_file_is_stale() -> None:
    stale = [str(path.relative_to(generate.REPO)) for path in generate.stale()]
    assert stale == [], f"{stale} differ from agent/contract/settings.py: run `make generate`"


def test_check_names_the_stale_file_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "settings.ts"
    edited.write_text(render.typescript(SETTINGS).replace('"AGENT_TIMEZONE",\n', ""))
    monkeypatch.setattr(generate, "REPO", tmp_path)
    monkeypatch.setattr(generate, "TYPESCRIPT", edited)
    monkeypatch.setattr(generate, "PYTHON", tmp_path / "missing.py")
    contract = tmp_path / "contract.md"
    contract.write_text(f"# Contract\n\n{render.BEGIN}\nold table\n{render.END}\n\nafter\n")
    monkeypatch.setattr(generate, "CONTRACT", contract)

    assert generate.main(["--check"]) == 1
    err = capsys.readouterr().err
    for name in ("settings.ts", "missing.py", "contract.md"):
        assert f"stale: {name} (run `make generate`)" in err
    assert '"AGENT_TIMEZONE"' not in edited.read_text()  # --check writes nothing

    assert generate.main([]) == 0
    assert generate.stale() == []
    text = contract.read_text()
    assert text.startswith("# Contract\n\n")
    assert text.endswith("\n\nafter\n")
    assert "| `AGENT_TIMEZONE` | plain_text | yes | `edgeagent:agentTimezone` | `UTC` |" in text
    assert "old table" not in text


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks the markers"):
        render.splice("# no markers here\n", render.markdown(SETTINGS))


def test_the_runtime_fields_are_the_declared_ones_with_their_defaults() -> None:
    declared = {s.field: s for s in SETTINGS if s.py is not None}
    undeclared = set(RuntimeSettings.model_fields) - set(declared)
    assert not undeclared, f"declare {undeclared} in agent/contract/settings.py, run make generate"
    assert set(RuntimeSettings.model_fields) == set(declared)
    fields = RuntimeSettings.model_fields
    assert fields["agent_edge_token"].is_required()
    assert (fields["agent_timezone"].default, fields["job_timeout_s"].default) == ("UTC", 120.0)
    # Edge-only bindings never reach the runtime's model.
    assert not {"telegram_webhook_secret", "access_aud", "sleep_after"} & set(fields)


def test_the_worker_env_type_lists_every_worker_variable_and_passes_the_container_ones() -> None:
    ts = render.typescript(SETTINGS)
    for setting in SETTINGS:
        declared = f"  {setting.name}?: " in ts
        assert declared == (setting.reach != "runtime"), setting.name
    passed = ts.split("export const PASSED_THROUGH = [", 1)[1].split("]", 1)[0]
    assert '"AGENT_TIMEZONE"' in passed
    assert '"TELEGRAM_WEBHOOK_SECRET"' not in passed  # verified at the edge, kept there
    assert '"AGENT_SESSION_CACHE_BYTES"' not in passed  # no binding at all
    assert "SANDBOX?: DurableObjectNamespace<SandboxRpc>;" in ts
    assert 'import type { DirectoryRpc, SandboxRpc } from "../rpc";' in ts
