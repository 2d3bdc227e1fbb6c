"""Helpers shared by the runtime tests: constants, S3 clients, runtime child processes, and test
stores (an in-memory StateStore with the backends' conditional semantics, a counting wrapper)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from suite_support import EDGE_TOKEN, free_port, s3

from agent.localproc import RuntimeChild
from agent.localproc import spawn_runtime as launch
from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject

# A `python -m agent.runtime` child (agent/localproc.py, shared with the benchmarks).
RuntimeProcess = RuntimeChild


def edge_headers(user: str = "alice@example.com") -> dict[str, str]:
    return {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": user}


# What the moto server accepts, as R2Store keyword arguments (besides bucket and endpoint).
R2_SETTINGS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


def r2_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "STATE_BACKEND": "r2",
        "STATE_BUCKET": bucket,
        "STATE_ENDPOINT": endpoint,
        "STATE_ACCESS_KEY_ID": "testing",
        "STATE_SECRET_ACCESS_KEY": "testing",
        "STATE_REGION": "us-east-1",
    }


def spawn_runtime(tmp: Path, env: dict[str, str], port: int | None = None) -> RuntimeChild:
    """A runtime child for tenant acme with `env`, its output in a log file under `tmp`."""
    port = port or free_port()
    settings = {
        "AGENT_TENANT": "acme",
        "AGENT_EDGE_TOKEN": EDGE_TOKEN,
        "AGENT_LOG_LEVEL": "warning",
        **env,
    }
    log = tmp / f"runtime-{port}-{uuid.uuid4().hex[:6]}.log"
    return launch(settings, edge_headers(), log, port)


@dataclass(frozen=True)
class Ack:
    """A turn the runtime acknowledged (HTTP 200 with its stored sequence number)."""

    session_id: str
    seq: int
    turn_id: str
    prompt: str


class ChatLoad:
    """Threads that keep sending turns and record every acknowledgement."""

    def __init__(self, url_of: Callable[[int], str], sessions: list[str]) -> None:
        self._url_of = url_of
        self._sessions = sessions
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.acks: list[Ack] = []
        self.failures = 0

    def start(self) -> None:
        for index, session_id in enumerate(self._sessions):
            thread = threading.Thread(target=self._run, args=(index, session_id), daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_for(self, count: int) -> None:
        """Block until `count` turns are acknowledged (the test's timeout is the backstop: how
        long that takes depends on the machine, which a test must not assert)."""
        while len(self.acks) < count:
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, index: int, session_id: str) -> None:
        sent = 0
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                prompt = f"w{index}-{sent}"
                sent += 1
                try:
                    response = client.post(
                        f"{self._url_of(index)}/api/chat",
                        headers=edge_headers(),
                        json={"message": prompt, "session_id": session_id},
                    )
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code == 200:
                    body = response.json()
                    with self._lock:
                        self.acks.append(Ack(session_id, body["seq"], body["turn_id"], prompt))
                else:
                    with self._lock:
                        self.failures += 1
                    time.sleep(0.1)  # the runtime is restarting: do not starve it of CPU


def stored_turns(endpoint: str, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every turn object in the bucket, read straight from S3: turn_id -> turn."""
    client = s3(endpoint)
    found: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}sessions/"
    ):
        for item in page.get("Contents", []):
            turn = json.loads(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            turn["key"] = item["Key"]
            found[turn["turn_id"]] = turn
    return found


def lost_acks(acks: list[Ack], stored: dict[str, dict[str, Any]]) -> list[str]:
    """Acknowledged turns missing from the store or stored differently than acknowledged, each
    with what the store holds at its key (so a failure says how it was lost)."""
    at_key = {turn["key"]: turn for turn in stored.values()}
    lost = []
    for ack in acks:
        key = f"sessions/{ack.session_id}/{ack.seq:08d}.json"
        turn = stored.get(ack.turn_id)
        if (
            turn is None
            or turn["seq"] != ack.seq
            or turn["prompt"] != ack.prompt
            or turn["key"] != key
        ):
            there = at_key.get(key)
            held = "nothing" if there is None else f"turn {there['turn_id']} ({there['prompt']!r})"
            found = "absent" if turn is None else f"stored at {turn['key']} ({turn['prompt']!r})"
            lost.append(f"{ack}: its id is {found}; {key} holds {held}")
    return lost


class CountingStore:
    """Counts storage reads (get and list calls) and writes, delegating everything."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.reads: list[str] = []
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def get(self, key: str) -> StoredObject | None:
        self.reads.append(f"get {key}")
        return await self.inner.get(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        self.reads.append(f"list {prefix}")
        return await self.inner.list(prefix, start_after=start_after, max_keys=max_keys)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        self.writes.append(key)
        return await self.inner.put(key, body, if_none_match=if_none_match, if_match=if_match)
