"""Usage: today's and this month's model spend and tokens, per user, model, channel and job.

Read from AI Gateway's request logs (each entry has cost, tokens and the `cf-aig-metadata` the
runtime sent, agent/runtime/attribution.py) through a token with AI Gateway Read alone
(`AI_GATEWAY_LOGS_TOKEN`, declared by infra/components/ai_gateway.py):
GET {api}/accounts/{account}/ai-gateway/gateways/{gateway}/logs, newest first, page by page until
an entry predates the month. https://developers.cloudflare.com/api/resources/ai_gateway/subresources/logs/methods/list/

The gateway keeps logs only while `edgeagent:gatewayCollectLogs` is on and within its storage
limit, so this is the gateway's own account of what it logged, not an invoice. Reading is bounded
(`MAX_PAGES`) and cached for AGENT_USAGE_CACHE_S; a report says when it stopped early.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from agent.runtime.budget import SpendLimits
from agent.runtime.errors import RequestError
from agent.runtime.session_index import same_identity
from agent.runtime.settings import RuntimeSettings

PER_PAGE = 50
MAX_PAGES = 40
DIMENSIONS = ("user", "model", "channel", "job")


@dataclass
class Tally:
    """Spend and tokens of some set of calls."""

    cost_usd: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    calls: int = 0

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count one log entry."""
        self.cost_usd += float(entry.get("cost") or 0.0)
        self.tokens_in += int(entry.get("tokens_in") or 0)
        self.tokens_out += int(entry.get("tokens_out") or 0)
        self.calls += 1

    def view(self) -> dict[str, Any]:
        """As JSON (dollars rounded to a hundredth of a cent)."""
        return {
            "cost_usd": round(self.cost_usd, 4),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "calls": self.calls,
        }


@dataclass
class Period:
    """One period's total and its breakdowns."""

    total: Tally = field(default_factory=Tally)
    by: dict[str, dict[str, Tally]] = field(
        default_factory=lambda: {dimension: {} for dimension in DIMENSIONS}
    )

    def add(self, entry: Mapping[str, Any], keys: Mapping[str, str | None]) -> None:
        """Count one entry in the total and under each of its keys."""
        self.total.add(entry)
        for dimension, key in keys.items():
            if key is not None:
                self.by[dimension].setdefault(key, Tally()).add(entry)

    def view(self) -> dict[str, Any]:
        """As JSON, each breakdown costliest first."""
        out: dict[str, Any] = {"total": self.total.view()}
        for dimension, tallies in self.by.items():
            ordered = sorted(tallies.items(), key=lambda kv: (-kv[1].cost_usd, kv[0]))
            out[f"by_{dimension}"] = [{dimension: k, **t.view()} for k, t in ordered]
        return out


def entry_keys(entry: Mapping[str, Any]) -> dict[str, str | None]:
    """user, model, channel and job of a log entry (its metadata is JSON text)."""
    raw = entry.get("metadata")
    metadata: dict[str, Any] = {}
    if isinstance(raw, str) and raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            metadata = parsed
    elif isinstance(raw, dict):
        metadata = raw
    channel = str(metadata.get("channel") or "unknown")
    job = None
    if channel.startswith("job:"):
        channel, job = "job", channel.removeprefix("job:")
    return {
        "user": str(metadata.get("user") or "unknown"),
        "model": str(entry.get("model") or "unknown"),
        "channel": channel,
        "job": job,
    }


def gateway_of(base_url: str) -> tuple[str, str]:
    """(account, gateway) from AI_GATEWAY_BASE_URL `.../v1/{account}/{gateway}`."""
    parts = [part for part in urlsplit(base_url).path.split("/") if part]
    if len(parts) < 3 or parts[-3] != "v1":
        raise RequestError(
            503,
            "usage is unavailable: AI_GATEWAY_BASE_URL does not name an account and gateway",
            "expected https://gateway.ai.cloudflare.com/v1/<account>/<gateway>",
        )
    return parts[-2], parts[-1]


class UsageReader:
    """Reads, totals and briefly caches the gateway's logs."""

    def __init__(
        self,
        settings: RuntimeSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._monotonic = monotonic
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def report(self, only_user: str | None) -> dict[str, Any]:
        """Today and this month (UTC), for one user or (None) everyone, plus limits and costs."""
        async with self._lock:
            now = self._monotonic()
            if self._cached is None or now - self._cached[0] >= self._settings.agent_usage_cache_s:
                self._cached = (now, await self._read())
            raw = self._cached[1]
        today, month = Period(), Period()
        for entry in raw["entries"]:
            keys = entry_keys(entry)
            if only_user is not None and not same_identity(str(keys["user"]), only_user):
                continue
            month.add(entry, keys)
            if entry["created_at"] >= raw["day_start"]:
                today.add(entry, keys)
        limits = SpendLimits.from_settings(self._settings).in_force()
        container = self._settings.agent_container_monthly_usd
        return {
            "as_of": raw["as_of"],
            "scope": "you" if only_user is not None else "everyone",
            "today": today.view(),
            "month": month.view(),
            "complete": raw["complete"],
            "logs_unavailable": raw["unavailable"],
            "limits_usd": {rule: float(amount) for rule, amount in limits.items()},
            "container_monthly_usd": float(container) if container is not None else None,
        }

    async def _read(self) -> dict[str, Any]:
        settings = self._settings
        now = self._clock().astimezone(UTC)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if settings.ai_gateway_logs_token is None or settings.ai_gateway_base_url is None:
            # Local development or an offline model: no gateway logs, but the limits and the
            # container estimate still apply.
            return {
                "entries": [],
                "day_start": day_start,
                "as_of": now.isoformat(),
                "complete": True,
                "unavailable": "no AI Gateway logs to read (AI_GATEWAY_LOGS_TOKEN and "
                "AI_GATEWAY_BASE_URL are set by the stack)",
            }
        account, gateway = gateway_of(settings.ai_gateway_base_url)
        url = (
            f"{settings.ai_gateway_api_base_url.rstrip('/')}/accounts/{account}"
            f"/ai-gateway/gateways/{gateway}/logs"
        )
        headers = {"Authorization": f"Bearer {settings.ai_gateway_logs_token.get_secret_value()}"}
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        entries: list[dict[str, Any]] = []
        complete = False
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {
                "page": page,
                "per_page": PER_PAGE,
                "order_by": "created_at",
                "order_by_direction": "desc",
            }
            try:
                response = await self._http.get(url, params=params, headers=headers, timeout=15.0)
            except httpx.HTTPError as error:
                raise RequestError(
                    502, "could not read the AI Gateway logs", f"retry shortly ({error})"
                ) from None
            if response.status_code != 200:
                raise RequestError(
                    502,
                    f"the AI Gateway logs answered {response.status_code}",
                    "check AI_GATEWAY_LOGS_TOKEN (AI Gateway Read) and gatewayCollectLogs",
                )
            body = response.json()
            batch = body.get("result") or []
            older = False
            for item in batch:
                created = datetime.fromisoformat(str(item["created_at"]).replace("Z", "+00:00"))
                if created < month_start:
                    older = True
                    break
                entries.append({**item, "created_at": created})
            info = body.get("result_info") or {}
            total = int(info.get("total_count") or 0)
            if older or not batch or page * PER_PAGE >= total:
                complete = True
                break
        return {
            "entries": entries,
            "day_start": day_start,
            "as_of": now.isoformat(),
            "complete": complete,
            "unavailable": None,
        }
