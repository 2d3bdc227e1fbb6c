"""Helpers shared by the runtime tests: constants, S3 clients, runtime child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx

EDGE_TOKEN = "test-edge-token-0123456789"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@dataclass
class RuntimeProcess:
    """A `python -m agent.runtime` child on a loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"runtime exited early:\n{self.log.read_text()[-3000:]}")
            try:
                response = httpx.get(f"{self.url}/readyz", headers=edge_headers(), timeout=1.0)
                if response.status_code == 200:
                    return time.monotonic() - start
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"runtime not ready in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> float:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - start


def edge_headers(user: str = "alice@example.com") -> dict[str, str]:
    return {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": user}


def r2_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "STATE_BACKEND": "r2",
        "STATE_BUCKET": bucket,
        "STATE_ENDPOINT": endpoint,
        "STATE_ACCESS_KEY_ID": "testing",
        "STATE_SECRET_ACCESS_KEY": "testing",
        "STATE_REGION": "us-east-1",
    }


def spawn_runtime(tmp: Path, env: dict[str, str], port: int | None = None) -> RuntimeProcess:
    port = port or free_port()
    log = tmp / f"runtime-{port}-{uuid.uuid4().hex[:6]}.log"
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AGENT_", "STATE_", "AI_GATEWAY_"))
    }
    full_env.update(
        {
            "AGENT_TENANT": "acme",
            "AGENT_EDGE_TOKEN": EDGE_TOKEN,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "AGENT_LOG_LEVEL": "warning",
            **env,
        }
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.runtime"],
            env=full_env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return RuntimeProcess(proc, port, log)
