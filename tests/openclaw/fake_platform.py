"""What a loopback platform API fake records, shared by the fake Telegram and Slack APIs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from suite_support import HANG_S, wait_until


@dataclass
class RecordingFake:
    """The methods a platform fake was called with (thread-safe), read by tests."""

    platform: ClassVar[str] = "platform"

    token: str
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def methods(self) -> list[str]:
        with self.lock:
            return [method for method, _ in self.calls]

    def called(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [params for name, params in self.calls if name == method]

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = HANG_S) -> None:
        wait_until(
            check, lambda: f"fake {self.platform}: {what} not seen; calls {self.methods()}", timeout
        )
