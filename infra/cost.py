"""Monthly cost estimate of the sandbox container, from Cloudflare's published Containers pricing.

Pure arithmetic, no I/O: `infra.plan` prints it so a reader sees what an instance type and a
sleep policy cost before running `pulumi up`.

Figures: https://developers.cloudflare.com/containers/pricing/ (Workers Paid plan, read
2026-11). Memory and disk are billed on the provisioned size for every second an instance is
awake; CPU is billed on active use (since 2025-11-21), so the CPU line needs a utilisation guess.
Included every month on Workers Paid: 25 GiB-hours of memory, 375 vCPU-minutes, 200 GB-hours of
disk; beyond that $0.0000025 per GiB-second, $0.000020 per vCPU-second, $0.00000007 per
GB-second. Cross-check: standard-1 never sleeping gives about $25.70 of memory per month, the
"~$26 of $34.50" Moltworker reports for the same setup. Egress and Worker/Durable Object
requests are not included here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

PRICING_URL: Final = "https://developers.cloudflare.com/containers/pricing/"

VCPU_SECOND_USD: Final = Decimal("0.000020")
MEMORY_GIB_SECOND_USD: Final = Decimal("0.0000025")
DISK_GB_SECOND_USD: Final = Decimal("0.00000007")

INCLUDED_VCPU_SECONDS: Final = Decimal(375 * 60)
INCLUDED_MEMORY_GIB_SECONDS: Final = Decimal(25 * 3600)
INCLUDED_DISK_GB_SECONDS: Final = Decimal(200 * 3600)

WORKERS_PAID_BASE_USD: Final = Decimal(5)
DAYS_PER_MONTH: Final = Decimal(30)
DEFAULT_CPU_UTILISATION: Final = Decimal("0.10")
# A personal agent's busy time per day, used when the caller has no better figure.
DEFAULT_ACTIVE_HOURS_PER_DAY: Final = 2.0


@dataclass(frozen=True, kw_only=True)
class InstanceSpec:
    """Provisioned resources of one instance type."""

    vcpu: Decimal
    memory_gib: Decimal
    disk_gb: Decimal


# Same table as the SDK's `instance_type` docs and docs/container.md (instance types).
INSTANCE_TYPES: Final[dict[str, InstanceSpec]] = {
    "lite": InstanceSpec(vcpu=Decimal(1) / 16, memory_gib=Decimal("0.25"), disk_gb=Decimal(2)),
    "basic": InstanceSpec(vcpu=Decimal("0.25"), memory_gib=Decimal(1), disk_gb=Decimal(4)),
    "standard-1": InstanceSpec(vcpu=Decimal("0.5"), memory_gib=Decimal(4), disk_gb=Decimal(8)),
    "standard-2": InstanceSpec(vcpu=Decimal(1), memory_gib=Decimal(6), disk_gb=Decimal(12)),
    "standard-3": InstanceSpec(vcpu=Decimal(2), memory_gib=Decimal(8), disk_gb=Decimal(16)),
    "standard-4": InstanceSpec(vcpu=Decimal(4), memory_gib=Decimal(12), disk_gb=Decimal(20)),
}

_DURATION = re.compile(r"^(\d+)(s|m|h)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_sleep_after(value: str) -> int | None:
    """Seconds an idle container stays awake (`10m`, `30s`, `2h`), or None for `never`."""
    if value == "never":
        return None
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(
            f"sleep_after: {value!r} is not a duration; use a number with s, m or h "
            "(for example `10m`), or `never`"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True, kw_only=True)
class CostEstimate:
    """A month of container use, per billed dimension, in US dollars."""

    instance_type: str
    instances: int
    active_hours_per_day: Decimal
    awake_hours_per_day: Decimal
    cpu_utilisation: Decimal
    vcpu_usd: Decimal
    memory_usd: Decimal
    disk_usd: Decimal
    workers_paid_base_usd: Decimal

    @property
    def containers_usd(self) -> Decimal:
        return self.vcpu_usd + self.memory_usd + self.disk_usd

    @property
    def total_usd(self) -> Decimal:
        return self.containers_usd + self.workers_paid_base_usd

    def lines(self) -> list[str]:
        """Human-readable summary for `infra.plan`."""
        return [
            f"container cost estimate ({self.instance_type} x {self.instances}, awake "
            f"{_cents(self.awake_hours_per_day)} h/day): ${_cents(self.total_usd)}/month",
            f"  memory ${_cents(self.memory_usd)}, vCPU ${_cents(self.vcpu_usd)}, "
            f"disk ${_cents(self.disk_usd)}, "
            f"Workers Paid base ${_cents(self.workers_paid_base_usd)}",
            f"  assumes {_cents(self.active_hours_per_day)} busy h/day per instance, "
            f"{self.cpu_utilisation:.0%} CPU while awake; pricing: {PRICING_URL}",
        ]


def estimate_monthly_cost(
    instance_type: str,
    max_instances: int,
    sleep_after: str,
    active_hours_per_day: float = DEFAULT_ACTIVE_HOURS_PER_DAY,
    *,
    cpu_utilisation: Decimal = DEFAULT_CPU_UTILISATION,
) -> CostEstimate:
    """Estimate a 30-day month for `max_instances` sandboxes used `active_hours_per_day` each.

    Model: each instance is busy for one block of `active_hours_per_day` a day and then stays
    awake for `sleep_after` before sleeping (`never` = awake all day). Every instance follows
    that pattern, so this is an upper bound when fewer sandboxes are in use. Included amounts
    are per account and are subtracted once.
    """
    spec = INSTANCE_TYPES.get(instance_type)
    if spec is None:
        raise ValueError(
            f"instance_type: {instance_type!r} is not a Containers instance type; "
            f"use one of {', '.join(INSTANCE_TYPES)} (for example `standard-1`)"
        )
    if max_instances < 1:
        raise ValueError(f"max_instances: {max_instances} must be at least 1 (for example 1)")
    if not 0 <= active_hours_per_day <= 24:
        raise ValueError(
            f"active_hours_per_day: {active_hours_per_day} must be between 0 and 24 (for example 2)"
        )
    if not Decimal(0) <= cpu_utilisation <= Decimal(1):
        raise ValueError(
            f"cpu_utilisation: {cpu_utilisation} must be between 0 and 1 (for example 0.1)"
        )
    idle_seconds = parse_sleep_after(sleep_after)
    active = Decimal(str(active_hours_per_day))
    if idle_seconds is None:
        awake = Decimal(24)
    elif active == 0:
        awake = Decimal(0)
    else:
        awake = min(Decimal(24), active + Decimal(idle_seconds) / 3600)

    awake_seconds = awake * 3600 * DAYS_PER_MONTH * max_instances
    vcpu_seconds = awake_seconds * spec.vcpu * cpu_utilisation
    memory_seconds = awake_seconds * spec.memory_gib
    disk_seconds = awake_seconds * spec.disk_gb
    return CostEstimate(
        instance_type=instance_type,
        instances=max_instances,
        active_hours_per_day=active,
        awake_hours_per_day=awake,
        cpu_utilisation=cpu_utilisation,
        vcpu_usd=_billed(vcpu_seconds, INCLUDED_VCPU_SECONDS, VCPU_SECOND_USD),
        memory_usd=_billed(memory_seconds, INCLUDED_MEMORY_GIB_SECONDS, MEMORY_GIB_SECOND_USD),
        disk_usd=_billed(disk_seconds, INCLUDED_DISK_GB_SECONDS, DISK_GB_SECOND_USD),
        workers_paid_base_usd=WORKERS_PAID_BASE_USD,
    )


def _billed(used: Decimal, included: Decimal, rate: Decimal) -> Decimal:
    return max(Decimal(0), used - included) * rate


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
