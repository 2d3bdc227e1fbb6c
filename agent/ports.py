"""Loopback ports for the servers `make dev`, the tests and the benchmarks start.

A port from `bind(("127.0.0.1", 0))` comes from the kernel's ephemeral range
(`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 on Linux), which every outgoing connection
draws its local port from too. Between choosing such a port and the child server binding it
(seconds while wrangler or a runtime starts), any client connection may take it: "Address already
in use" (seen in the parallel test suite, which opens thousands of loopback connections). So the
port is chosen at random outside that range, among ports IANA has not assigned, and checked free
(port-for: `available_good_ports`, `select_random`).
"""

from __future__ import annotations

import functools

import port_for


@functools.cache
def _good_ports() -> frozenset[int]:
    return frozenset(port_for.available_good_ports())


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, outside the ephemeral range."""
    return port_for.select_random(set(_good_ports()))
