"""`python -m agent.runtime`: serve on $PORT (default 8080) until SIGTERM.

On SIGTERM uvicorn stops accepting connections, lets in-flight turns finish for up to
AGENT_SHUTDOWN_GRACE_S (then cancels them: cancelled turns were never acknowledged), and runs the
lifespan shutdown, which flushes and closes the state store. Total stays under 10 s.
"""

from __future__ import annotations

import logging
import sys
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from agent.runtime.app import create_app
from agent.runtime.errors import ConfigError
from agent.runtime.routes.ws import MAX_FRAME_BYTES
from agent.runtime.runtime_state import Runtime
from agent.runtime.settings import load_settings


class _Server(uvicorn.Server):
    """Marks the runtime as draining the moment a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        runtime: Runtime | None = getattr(self._app.state, "runtime", None)
        if runtime is not None:
            runtime.draining = True  # /readyz and new turns answer 503 from now on
        super().handle_exit(sig, frame)


def main() -> int:
    """Run the runtime; exit 2 with one clear message on bad configuration."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"agent.runtime: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.agent_log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        app = create_app(settings)
    except ConfigError as error:
        print(f"agent.runtime: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_level=settings.agent_log_level,
        timeout_graceful_shutdown=int(settings.agent_shutdown_grace_s),
        proxy_headers=False,
        server_header=False,
        ws_max_size=MAX_FRAME_BYTES,  # larger frames close with 1009 before the app reads them
    )
    server = _Server(config, app)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
