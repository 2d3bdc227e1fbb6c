"""The monthly container cost estimate printed by `infra.plan`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infra.cost import PRICING_URL, estimate_monthly_cost, parse_sleep_after


def test_standard_1_never_sleeping_matches_the_published_moltworker_figure() -> None:
    # Moltworker's README: never sleeping on standard-1 costs about $34.50/month, ~$26 memory.
    estimate = estimate_monthly_cost("standard-1", 1, "never", 24)

    assert estimate.awake_hours_per_day == 24
    # 4 GiB x 2,592,000 s - 90,000 included GiB-s, at $0.0000025.
    assert estimate.memory_usd == Decimal("25.695")
    # 8 GB x 2,592,000 s - 720,000 included GB-s, at $0.00000007.
    assert estimate.disk_usd == Decimal("1.40112")
    # 0.5 vCPU x 10% x 2,592,000 s - 22,500 included vCPU-s, at $0.000020.
    assert estimate.vcpu_usd == Decimal("2.142")
    assert estimate.total_usd == pytest.approx(Decimal("34.24"), abs=Decimal("0.01"))


def test_sleeping_after_ten_minutes_costs_a_fraction() -> None:
    always = estimate_monthly_cost("standard-1", 1, "never", 2)
    sleeping = estimate_monthly_cost("standard-1", 1, "10m", 2)

    assert sleeping.awake_hours_per_day == Decimal(2) + Decimal(600) / 3600
    assert sleeping.containers_usd < always.containers_usd / 5


def test_small_use_fits_in_the_included_amounts() -> None:
    estimate = estimate_monthly_cost("lite", 1, "10m", 2)
    assert estimate.containers_usd == 0
    assert estimate.total_usd == Decimal(5)


def test_every_instance_is_counted_and_included_amounts_only_once() -> None:
    one = estimate_monthly_cost("basic", 1, "never", 24)
    three = estimate_monthly_cost("basic", 3, "never", 24)
    memory_rate = Decimal("0.0000025")
    # Three instances bill three times the usage, minus the one account-wide allowance.
    assert three.memory_usd - one.memory_usd == 2 * Decimal(1) * 2_592_000 * memory_rate


def test_idle_days_cost_only_the_base_plan() -> None:
    assert estimate_monthly_cost("standard-4", 5, "10m", 0).containers_usd == 0


def test_lines_cite_the_pricing_page() -> None:
    lines = estimate_monthly_cost("standard-1", 1, "10m", 2).lines()
    assert lines[0].startswith("container cost estimate (standard-1 x 1, awake 2.17 h/day): $")
    assert PRICING_URL in lines[-1]
    assert "assumes 2.00 busy h/day per instance, 10% CPU while awake" in lines[-1]
    assert estimate_monthly_cost("standard-1", 1, "10m").lines() == lines


@pytest.mark.parametrize(
    ("value", "seconds"), [("10m", 600), ("30s", 30), ("2h", 7200), ("never", None)]
)
def test_sleep_after_durations(value: str, seconds: int | None) -> None:
    assert parse_sleep_after(value) == seconds


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("huge", 1, "10m", 2), "instance_type: 'huge' is not a Containers instance type"),
        (("lite", 0, "10m", 2), "max_instances: 0 must be at least 1"),
        (("lite", 1, "ten minutes", 2), "sleep_after: 'ten minutes' is not a duration"),
        (("lite", 1, "10m", 25), "active_hours_per_day: 25 must be between 0 and 24"),
    ],
)
def test_bad_inputs_name_the_key_and_an_example(
    args: tuple[str, int, str, float], message: str
) -> None:
    with pytest.raises(ValueError, match="for example") as caught:
        estimate_monthly_cost(*args)
    assert str(caught.value).startswith(message)
