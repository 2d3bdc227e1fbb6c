"""Every use of the Pulumi Python SDK's private or undocumented internals, and only here.

The public API has no way to do five things this project needs, so they reach inside the SDK:

1. Read the stack's whole configuration: `pulumi.Config` answers one key of one namespace at a
   time, but `infra/config.py` validates every `edgeagent:*` key at once (unknown keys included)
   and needs to know which are secret -> `pulumi.runtime.config` (`stack_config`).
2. Know whether the program runs under mocks (unit tests, the offline plan) rather than a real
   engine -> `pulumi.runtime.settings.get_monitor()` and `pulumi.runtime.mocks.MockMonitor`
   (`under_mocks`, `MockMonitor`).
3. Run a program offline in a fresh runtime and read its root stack's outputs ->
   `pulumi.runtime.stack.run_pulumi_func`, `pulumi.runtime.sync_await._sync_await`,
   `pulumi.runtime.settings.SETTINGS.outputs/.lock` and `get_root_resource()` (`run_offline`,
   `sync_await`).
4. Tell a secret apart inside serialized resource inputs, where it sits (Pulumi's deserializer
   lifts a nested secret to the whole property) -> `pulumi.runtime.rpc._special_sig_key`,
   `_special_secret_sig`, `deserialize_properties`, `is_rpc_secret` and `unwrap_rpc_secret`
   (`signature_of`, `deserialize`, `is_secret_value`, `unwrap_secret`).
5. Recognise a preview unknown in a dynamic provider's Check/Diff -> `pulumi.output.Unknown` and
   `pulumi.runtime.rpc.UNKNOWN` (`is_unknown`).

`INTERNALS` lists each one with the signature relied on; `tests/infra/test_pulumi_internals.py`
checks them against the installed SDK and fails naming its version, so an upgrade that moves or
changes one of them fails there first rather than somewhere in a plan.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.output import Unknown
from pulumi.runtime import config as _config
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime import stack as _stack
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.sync_await import _sync_await

__all__ = [
    "INTERNALS",
    "PULUMI_VERSION",
    "MockMonitor",
    "deserialize",
    "finish_offline",
    "internals_problems",
    "is_secret_value",
    "is_unknown",
    "run_offline",
    "signature_of",
    "stack_config",
    "sync_await",
    "under_mocks",
    "unwrap_secret",
]

T = TypeVar("T")

PULUMI_VERSION = importlib.metadata.version("pulumi")

# "module:attribute" -> the parameters relied on (None: a value, not a callable). Checked by
# `internals_problems`; the SDK version these were verified against is in uv.lock.
INTERNALS: dict[str, tuple[str, ...] | None] = {
    "pulumi.runtime.config:get_config_env": (),
    "pulumi.runtime.config:get_config_secret_keys_env": (),
    "pulumi.runtime.config:is_config_secret": ("k",),
    "pulumi.runtime.config:CONFIG": None,
    "pulumi.runtime.settings:get_monitor": (),
    "pulumi.runtime.settings:get_root_resource": (),
    "pulumi.runtime.settings:SETTINGS": None,
    "pulumi.runtime.stack:run_pulumi_func": ("func",),
    "pulumi.runtime.stack:Stack": None,
    "pulumi.runtime.sync_await:_sync_await": ("awaitable",),
    "pulumi.runtime.mocks:MockMonitor": None,
    "pulumi.runtime.mocks:MockMonitor.RegisterResource": ("self", "request"),
    "pulumi.runtime.rpc:_special_sig_key": None,
    "pulumi.runtime.rpc:_special_secret_sig": None,
    "pulumi.runtime.rpc:deserialize_properties": ("props_struct", "keep_unknowns", "keep_internal"),
    "pulumi.runtime.rpc:is_rpc_secret": ("value",),
    "pulumi.runtime.rpc:unwrap_rpc_secret": ("value",),
    "pulumi.runtime.rpc:UNKNOWN": None,
    "pulumi.output:Unknown": None,
}


def internals_problems() -> list[str]:
    """What in `INTERNALS` the installed SDK lacks or changed (empty: all is as relied on)."""
    problems: list[str] = []
    for target, params in INTERNALS.items():
        module_name, _, path = target.partition(":")
        try:
            value: Any = importlib.import_module(module_name)
            for part in path.split("."):
                value = getattr(value, part)
        except (ImportError, AttributeError) as error:
            problems.append(f"{target} is gone ({error})")
            continue
        if params is None:
            continue
        if not callable(value):
            problems.append(f"{target} is no longer callable")
            continue
        found = tuple(inspect.signature(value).parameters)
        if found[: len(params)] != params:
            problems.append(f"{target} takes {found}, expected {params}")
    # Attributes of instances, set in Settings.__init__ rather than declared on the class.
    for name in ("outputs", "lock"):
        if not hasattr(_settings.SETTINGS, name):
            problems.append(f"pulumi.runtime.settings:SETTINGS.{name} is gone")
    return problems


def stack_config() -> tuple[dict[str, object], set[str]]:
    """Every config value of the running program (`namespace:key` -> value) and the secret keys."""
    values: dict[str, object] = dict(_config.get_config_env())
    values.update(_config.CONFIG.get())
    secret_keys = {key for key in values if _config.is_config_secret(key)}
    secret_keys.update(_config.get_config_secret_keys_env())
    return values, secret_keys


def under_mocks() -> bool:
    """True when the program runs under `pulumi.runtime.set_mocks` (tests, the offline plan)."""
    return isinstance(_settings.get_monitor(), MockMonitor)


def sync_await(awaitable: Awaitable[T]) -> T:
    """Drive `awaitable` to completion on the Pulumi runtime's event loop."""
    return _sync_await(awaitable)


def run_offline(program: Callable[[], None], start: Callable[[], None]) -> Mapping[str, Any]:
    """Run `program` in a fresh Pulumi runtime; return its root stack's (unresolved) outputs.

    `start` installs the mocks and config (`pulumi.runtime.set_mocks`, `set_all_config`).
    Pulumi's settings fall back to module-wide defaults in a fresh context, and the pending output
    set and its lock are such defaults: tasks another run left there (on a closed loop) would be
    awaited forever. So this run gets its own, cleared again when the program has run.
    """
    settings = _settings.SETTINGS
    settings.outputs = set()
    settings.lock = threading.Lock()
    start()
    root = _settings.get_root_resource()
    assert isinstance(root, _stack.Stack)
    _sync_await(_stack.run_pulumi_func(program))
    return dict(root.outputs)


def finish_offline() -> None:
    """Forget the pending outputs of the run `run_offline` started (call after resolving them)."""
    _settings.SETTINGS.outputs.clear()


def signature_of(value: struct_pb2.Struct) -> str | None:
    """`"secret"` for a serialized secret, `"other"` for another special value, else None."""
    signature = value.fields.get(_rpc._special_sig_key)
    if signature is None:
        return None
    return "secret" if value[_rpc._special_sig_key] == _rpc._special_secret_sig else "other"


def deserialize(value: struct_pb2.Struct) -> Any:
    """A serialized property value back in Python form."""
    return _rpc.deserialize_properties(value)


def is_secret_value(value: object) -> bool:
    """A deserialized property value that is a secret (as mocks and providers receive it)."""
    return bool(_rpc.is_rpc_secret(value))


def unwrap_secret(value: Any) -> Any:
    """The plain value inside a deserialized secret (a plain value is returned as is)."""
    return _rpc.unwrap_rpc_secret(value)


def is_unknown(value: object) -> bool:
    """A value that is not known yet (a preview), as the dynamic-provider host hands it over."""
    return isinstance(value, Unknown) or value == _rpc.UNKNOWN
