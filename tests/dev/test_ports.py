"""Ports for child servers come from outside the kernel's ephemeral range (agent/ports.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.ports import free_port

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="the ephemeral range is read from Linux's /proc")
def test_ports_are_outside_the_ephemeral_range_and_bindable() -> None:
    low, high = (int(part) for part in RANGE.read_text().split())
    ports = {free_port() for _ in range(50)}
    assert len(ports) > 40  # chosen at random: a handful of repeats at most
    assert [port for port in ports if low <= port <= high] == []
    for port in ports:
        with socket.create_server(("127.0.0.1", port)):
            pass


def test_a_port_in_use_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        with socket.create_server(("127.0.0.1", 0)) as probe:
            spare = probe.getsockname()[1]
        monkeypatch.setattr("agent.ports._good_ports", lambda: frozenset({busy, spare}))
        assert {free_port() for _ in range(20)} == {spare}
