"""What the edge hears when a verified channel delivery is handed to OpenClaw's own listener.

The edge keeps a delivery's replay key only on a 2xx, so the answer decides whether the platform
sends it again: 503 (with `retry-after`) for anything that may pass, 502 when OpenClaw refuses the
proof the edge verified (two settings disagree: retrying cannot help), 422 for a body it refuses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from starlette.responses import JSONResponse, Response

from agent.runtime.http import error_response

log = logging.getLogger("agent.runtime.openclaw")


@dataclass(frozen=True, slots=True)
class Hop:
    """One platform's hop from the edge to OpenClaw."""

    platform: str  # "Telegram"
    item: str  # what the platform delivers: "update", "event"
    proof: str  # what the edge verified: "secret token", "signature"
    setting: str  # the container's copy of the secret, e.g. OPENCLAW_TELEGRAM_WEBHOOK_SECRET
    edge_setting: str  # the edge's, e.g. TELEGRAM_WEBHOOK_SECRET

    def retry(self, error: str) -> JSONResponse:
        """503: the edge releases the replay key and the platform's redelivery gets in."""
        response = error_response(503, error, f"{self.platform} retries the {self.item}")
        response.headers["retry-after"] = "5"
        return response

    def unreachable(self, error: httpx.HTTPError) -> JSONResponse:
        """OpenClaw's listener did not answer (starting, restarting, gone)."""
        return self.retry(
            f"OpenClaw's {self.platform} listener did not answer ({type(error).__name__})"
        )

    def refusal(self, answer: httpx.Response) -> Response:
        """The edge's answer when OpenClaw did not take the delivery durably."""
        status = answer.status_code
        if status == 401:
            log.error("OpenClaw refused the %s %s the edge had verified", self.platform, self.proof)
            return error_response(
                502,
                f"OpenClaw refused the {self.platform} {self.proof} the edge accepted",
                f"{self.setting} must equal the edge's {self.edge_setting}",
            )
        if status in {400, 413}:
            return error_response(
                422, f"OpenClaw refused the {self.item} body (HTTP {status})", "not retried"
            )
        # 404: the listener or route is not there yet (gateway starting); 5xx: not admitted.
        return self.retry(f"OpenClaw did not durably accept the {self.item} (HTTP {status})")
