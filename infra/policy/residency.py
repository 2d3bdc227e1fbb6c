"""Data residency: the sandboxes run in the jurisdiction of the bucket whose credentials they hold.

An R2 bucket's `jurisdiction` (absent = `default`) bounds where the state is stored; the container
application's `jurisdiction` (its `constraints.jurisdiction`, absent = anywhere) bounds where the
instances holding that bucket's credentials run. A stack whose two differ is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.policy.plan import UNKNOWN, PlanResource, Violation, of_type

POLICY = "same-jurisdiction"
DEFAULT = "default"


def _jurisdiction(value: object) -> str:
    return value if isinstance(value, str) and value else DEFAULT


def storage_and_sandboxes_share_a_jurisdiction(
    resources: Sequence[PlanResource],
) -> list[Violation]:
    """Every container application runs in the jurisdiction of every bucket of the stack."""
    buckets = {
        r.name: _jurisdiction(r.inputs.get("jurisdiction")) for r in of_type(resources, "R2Bucket")
    }
    found = []
    for app in of_type(resources, "ContainerApplication"):
        placed = _jurisdiction(app.inputs.get("jurisdiction"))
        for bucket, stored in sorted(buckets.items()):
            if placed != stored or UNKNOWN in (placed, stored):
                where = "anywhere" if placed == DEFAULT else f"in jurisdiction {placed!r}"
                found.append(
                    Violation(
                        POLICY,
                        app.name,
                        f"runs {where} but bucket {bucket!r} is in jurisdiction {stored!r}; "
                        f"the sandboxes hold its credentials: set jurisdiction: {stored} "
                        "(the stack does this from edgeagent:storageJurisdiction)",
                    )
                )
    return found
