"""Spend limits as the runtime sees them: which are in force, and a reached one as a plain message.

The limits themselves live on the AI Gateway (infra/components/ai_gateway.py declares them from
`edgeagent:spendLimit*`); the runtime is told their amounts (`AGENT_*SPEND_LIMIT*_USD`) only so a
person can read which budget ran out and when it comes back. AI Gateway answers a call over budget
with 429 before calling the provider, and the window resets on its own:
https://developers.cloudflare.com/ai-gateway/features/spend-limits/

The 429's body is not documented; the gateway's plain rate limit answers 429 too. A 429 counts as
a spend limit when its body speaks of spend or budget (and names our rule when it contains its id:
`stack-daily`, `stack-monthly`, `user-daily`). Windows are fixed (`technique: fixed`) and assumed
aligned to the Unix epoch, as fixed rate-limit windows are (12:00-12:10, 12:10-12:20): a day then
resets at 00:00 UTC; a 30-day window is not a calendar month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from agent.runtime.errors import RequestError
from agent.runtime.settings import RuntimeSettings

DAY = timedelta(days=1)
MONTH = timedelta(days=30)
_SPEND = re.compile(r"spend|budget|cost limit", re.IGNORECASE)
RULES = ("user-daily", "stack-daily", "stack-monthly")
_WINDOWS = {"user-daily": DAY, "stack-daily": DAY, "stack-monthly": MONTH}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SpendLimitHit:
    """A spend-limit 429 from the gateway; `rule` when its body named one of ours."""

    rule: str | None


def spend_limit_hit(status: int, body: str) -> SpendLimitHit | None:
    """The hit a response reports, or None when it is not a spend limit."""
    if status != 429 or not _SPEND.search(body):
        return None
    named = [rule for rule in RULES if rule in body]
    return SpendLimitHit(named[0] if named else None)


def window_end(moment: datetime, window: timedelta) -> datetime:
    """The end of the fixed, epoch-aligned window holding `moment`."""
    elapsed = (moment - _EPOCH) // window
    return _EPOCH + (elapsed + 1) * window


def _usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


class BudgetExhausted(RequestError):
    """A spend limit is reached: nothing was generated or stored; it comes back at `resets_at`."""

    def __init__(self, message: str, rule: str | None, resets_at: datetime) -> None:
        super().__init__(
            429, message, "wait for the reset, or raise the limit (docs/costs.md, edgeagent:spend*)"
        )
        self.rule = rule
        self.resets_at = resets_at


@dataclass(frozen=True, slots=True)
class SpendLimits:
    """The limits in force, in US dollars (None = not set)."""

    daily: Decimal | None = None
    monthly: Decimal | None = None
    user_daily: Decimal | None = None
    timezone: str = "UTC"

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> SpendLimits:
        """From AGENT_SPEND_LIMIT_DAILY_USD, ..._MONTHLY_USD, AGENT_USER_SPEND_LIMIT_DAILY_USD."""
        return cls(
            daily=settings.agent_spend_limit_daily_usd,
            monthly=settings.agent_spend_limit_monthly_usd,
            user_daily=settings.agent_user_spend_limit_daily_usd,
            timezone=settings.agent_timezone,
        )

    def amount(self, rule: str) -> Decimal | None:
        """The amount of one rule."""
        by_rule = {"stack-daily": self.daily, "stack-monthly": self.monthly}
        return by_rule.get(rule, self.user_daily if rule == "user-daily" else None)

    def in_force(self) -> dict[str, Decimal]:
        """Rule id -> amount, for the rules that are set."""
        return {rule: amount for rule in RULES if (amount := self.amount(rule)) is not None}

    def _when(self, moment: datetime, now: datetime) -> str:
        local = moment.astimezone(ZoneInfo(self.timezone))
        zone = "UTC" if self.timezone == "UTC" else self.timezone
        if local.date() == now.astimezone(ZoneInfo(self.timezone)).date() + timedelta(days=1):
            return f"{local:%H:%M} {zone}"
        return f"{local:%Y-%m-%d %H:%M} {zone}"

    def exhausted(self, hit: SpendLimitHit, now: datetime) -> BudgetExhausted:
        """The plain message for a reached limit, and when it resets."""
        in_force = self.in_force()
        rule = hit.rule if hit.rule in in_force else None
        if rule is None and len(in_force) == 1:
            rule = next(iter(in_force))
        if rule is None:
            # Which rule answered is unknown: the soonest reset of those in force is the earliest
            # the budget can return (a day when none is known to the runtime).
            windows = [_WINDOWS[r] for r in in_force] or [DAY]
            resets = window_end(now, min(windows))
            listed = ", ".join(f"{_describe(r)} {_usd(a)}" for r, a in in_force.items())
            limits = f" ({listed})" if listed else ""
            message = (
                f"The agent's spending limit{limits} is reached; it resets at "
                f"{self._when(resets, now)} at the earliest."
            )
            return BudgetExhausted(message, None, resets)
        amount, resets = in_force[rule], window_end(now, _WINDOWS[rule])
        when = self._when(resets, now)
        if rule == "user-daily":
            message = f"Your budget of {_usd(amount)} for today is used; it resets at {when}."
        elif rule == "stack-daily":
            message = f"Today's budget of {_usd(amount)} is used; it resets at {when}."
        else:
            message = f"This 30-day budget of {_usd(amount)} is used; it resets at {when}."
        return BudgetExhausted(message, rule, resets)


def _describe(rule: str) -> str:
    return {
        "user-daily": "per person per day",
        "stack-daily": "per day",
        "stack-monthly": "per 30 days",
    }[rule]
