"""Processes and load for the runtime benchmark: moto's S3 server, runtime children, chat load."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from agent.localproc import RuntimeChild, spawn_runtime
from bench.children import started

REPO = Path(__file__).resolve().parents[2]
EDGE_TOKEN = "bench-edge-token-0123456789"
HEADERS = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "bench@example.com"}


class RequestLog:
    """Counts the S3 requests moto serves, per bucket and kind (get, head, put, delete, list)."""

    READS = ("get", "head", "list")

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # Path-style addressing (loopback endpoint): /<bucket> lists, /<bucket>/<key> an object.
        bucket, _, key = str(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
        method = str(environ["REQUEST_METHOD"]).lower()
        kind = "list" if method == "get" and not key else method
        with self._lock:
            self.counts[(bucket, kind)] += 1
        return self._app(environ, start_response)

    def of(self, bucket: str) -> Counter[str]:
        """Requests so far on `bucket`, by kind; subtract two of these to count a window."""
        with self._lock:
            return Counter({kind: n for (name, kind), n in self.counts.items() if name == bucket})

    @staticmethod
    def reads(counts: Counter[str]) -> int:
        """Storage reads among `counts`: object GETs and HEADs, and listing pages."""
        return sum(counts[kind] for kind in RequestLog.READS)


@dataclass
class S3:
    """A moto S3 server on loopback (every request counted) and a client for it."""

    endpoint: str
    requests: RequestLog

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str) -> dict[str, str]:
        return {
            "STATE_BACKEND": "r2",
            "STATE_BUCKET": bucket,
            "STATE_ENDPOINT": self.endpoint,
            "STATE_ACCESS_KEY_ID": "bench",
            "STATE_SECRET_ACCESS_KEY": "bench",
            "STATE_REGION": "us-east-1",
        }

    def stored_turn_ids(self, bucket: str) -> dict[str, tuple[str, int]]:
        client = self.client()
        found: dict[str, tuple[str, int]] = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="sessions/"
        ):
            for item in page.get("Contents", []):
                turn = json.loads(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                found[turn["turn_id"]] = (item["Key"], turn["seq"])
        return found


@contextmanager
def moto_server() -> Iterator[S3]:
    """moto's S3 server in a thread of this process, as `ThreadedMotoServer` runs it, with every
    request counted on the way in."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = RequestLog(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, log, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield S3(f"http://127.0.0.1:{server.server_port}", log)
    finally:
        server.shutdown()
        thread.join(10)


# A `python -m agent.runtime` child: the one the tests start too (agent/localproc.py).
Runtime = RuntimeChild


def spawn(env: dict[str, str], port: int | None = None) -> Runtime:
    """A runtime for tenant bench with `env`, its output discarded."""
    settings = {
        "AGENT_TENANT": "bench",
        "AGENT_EDGE_TOKEN": EDGE_TOKEN,
        "AGENT_LOG_LEVEL": "error",
        **env,
    }
    return started(spawn_runtime(settings, HEADERS, port=port))


@dataclass
class ChatLoad:
    """Client threads that send turns back to back and keep every acknowledgement."""

    url: str
    sessions: list[str]
    acks: dict[str, tuple[str, int]] = field(default_factory=dict)  # turn_id -> (key, seq)
    ack_times: dict[str, float] = field(default_factory=dict)  # turn_id -> monotonic time
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for index, session_id in enumerate(self.sessions):
            thread = threading.Thread(target=self._run, args=(index, session_id), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, index: int, session_id: str) -> None:
        sent = 0
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                sent += 1
                try:
                    response = client.post(
                        f"{self.url}/api/chat",
                        headers=HEADERS,
                        json={"message": f"w{index}-{sent}", "session_id": session_id},
                    )
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if response.status_code != 200:
                    time.sleep(0.1)
                    continue
                body = response.json()
                key = f"sessions/{session_id}/{body['seq']:08d}.json"
                with self._lock:
                    self.acks[body["turn_id"]] = (key, body["seq"])
                    self.ack_times[body["turn_id"]] = time.monotonic()
