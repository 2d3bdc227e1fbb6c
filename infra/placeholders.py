"""The stand-in values an offline plan prints where a real deploy would have real ones.

`SECRET` replaces every secret value (the plan never decrypts or prints one). The recording mocks
(`infra.mocks`) answer for values the provider computes only on deploy — ids, token values,
Access AUDs, the pushed image digest — with fixed placeholders built here, so plans are
reproducible and `is_placeholder` can tell a reader which values are not real.
"""

from __future__ import annotations

SECRET = "[secret]"  # noqa: S105 (the redaction marker every secret value prints as)
MOCK_PREFIX = "mock-"
MOCK_DIGEST = "sha256:" + "0" * 64


def mock_id(name: str) -> str:
    """The id the mocks give the resource with logical name `name`."""
    return f"{name}-id"


def mock_value(kind: str, name: str) -> str:
    """A computed output of resource `name`, e.g. `mock-aud-edgeagent-access-app`."""
    return f"{MOCK_PREFIX}{kind}-{name}"


def is_placeholder(value: str, resource_names: frozenset[str]) -> bool:
    """Whether `value` is a stand-in the mocks made (known only after a real deploy)."""
    return (
        value.startswith(MOCK_PREFIX)
        or value == MOCK_DIGEST
        or (value.endswith("-id") and value.removesuffix("-id") in resource_names)
    )
