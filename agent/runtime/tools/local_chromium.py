"""A local headless Chromium with a CDP port on 127.0.0.1, for development and tests.

The browser tool talks CDP to whatever BROWSER_CDP_URL names; in production that is Cloudflare
Browser Rendering. Locally, this starts Debian's `/usr/bin/chromium` with the flags that keep it
off the network (no background requests, no component updates, no sync) in a throw-away profile,
and gives back the `http://127.0.0.1:<port>` URL to set as BROWSER_CDP_URL.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class ChromiumMissing(RuntimeError):
    """No Chromium binary where one was expected."""


class LocalChromium:
    """`with LocalChromium() as cdp_url:` runs a headless Chromium until the block ends."""

    def __init__(self, executable: Path = CHROMIUM, start_timeout_s: float = 20.0) -> None:
        if not executable.exists():
            raise ChromiumMissing(
                f"{executable} not found: install Debian's chromium "
                "(apt-get install -y chromium, or scripts/ensure-chromium)"
            )
        self._executable = executable
        self._timeout = start_timeout_s
        self._profile: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.cdp_url = ""

    def start(self) -> str:
        """Start Chromium and wait for its DevTools port; the CDP URL."""
        self._profile = Path(tempfile.mkdtemp(prefix="edgeagent-chromium-"))
        self._process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            [str(self._executable), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise ChromiumMissing(f"{self._executable} exited at start")
            if port_file.exists():
                lines = port_file.read_text().splitlines()
                if lines and lines[0].isdigit():
                    self.cdp_url = f"http://127.0.0.1:{lines[0]}"
                    return self.cdp_url
            time.sleep(0.05)
        self.stop()
        raise ChromiumMissing(f"{self._executable} opened no DevTools port in {self._timeout} s")

    def stop(self) -> None:
        """Stop Chromium and delete its profile."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
