"""The web-fetch address classifier, fuzzed: every IPv6 form that carries an IPv4 address is judged
by the address it carries, every IPv4 spelling is judged by its value, and the classifier agrees
with `ipaddress` everywhere else."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.runtime.tools.web import (
    NAT64_LOCAL_USE,
    Allowlist,
    FetchRefused,
    check_url,
    embedded_ipv4,
    is_public,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address

# Where attackers point: loopback, metadata, RFC 1918, CGNAT, unspecified, multicast, broadcast.
DANGEROUS_V4 = [
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "224.0.0.1",
    "255.255.255.255",
]


def nat64(v4: V4) -> V6:
    return V6(int(V6("64:ff9b::")) | int(v4))


def compatible(v4: V4) -> V6:
    return V6(int(v4))


def mapped(v4: V4) -> V6:
    return V6(0xFFFF << 32 | int(v4))


def translated(v4: V4) -> V6:
    return V6(0xFFFF << 48 | int(v4))  # ::ffff:0:a.b.c.d


def six_to_four(v4: V4, rest: int = 0) -> V6:
    return V6(0x2002 << 112 | int(v4) << 80 | rest % (1 << 80))


def teredo(server: V4, client: V4, flags: int = 0) -> V6:
    # RFC 4380: 2001:0000:<server>:<flags>:<port ^ 0xffff>:<client ^ 0xffffffff>
    return V6(
        0x20010000 << 96 | int(server) << 64 | flags << 48 | 0xFFFF << 32 | int(client) ^ 0xFFFFFFFF
    )


WRAPS = {
    "NAT64": nat64,
    "IPv4-compatible": compatible,
    "IPv4-mapped": mapped,
    "IPv4-translated": translated,
    "6to4": six_to_four,
}

v4s = st.builds(V4, st.integers(0, 2**32 - 1))
non_public_v4s = v4s.filter(lambda a: not is_public(a)) | st.sampled_from(
    [V4(a) for a in DANGEROUS_V4]
)
v6s = st.builds(V6, st.integers(0, 2**128 - 1))


@pytest.mark.parametrize("form", sorted(WRAPS))
@pytest.mark.parametrize("inner", DANGEROUS_V4)
def test_each_wrapping_of_each_dangerous_address_is_refused(form: str, inner: str) -> None:
    wrapped = WRAPS[form](V4(inner))
    assert not is_public(wrapped)
    with pytest.raises(FetchRefused, match="WEB_FETCH_ALLOWLIST") as refused:
        asyncio.run(check_url(f"http://[{wrapped}]/", Allowlist.parse("")))
    if wrapped == V6("::"):  # IPv4-compatible 0.0.0.0 is the unspecified address itself
        return
    assert (form, V4(inner)) in embedded_ipv4(wrapped)
    assert f"{form} of {inner}," in str(refused.value)


@pytest.mark.parametrize(
    "literal",
    ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "::7f00:1", "::ffff:7f00:1", "2002:a9fe:a9fe::1"],
)
def test_the_forms_the_attack_run_used_are_refused(literal: str) -> None:
    with pytest.raises(FetchRefused, match=r"(loopback|link-local) address"):
        asyncio.run(check_url(f"https://[{literal}]:8443/latest", Allowlist.parse("")))


@given(inner=non_public_v4s, form=st.sampled_from(sorted(WRAPS)))
def test_no_wrapping_makes_a_non_public_address_public(inner: V4, form: str) -> None:
    assert not is_public(WRAPS[form](inner))


@given(inner=non_public_v4s, rest=st.integers(0, 2**80 - 1))
def test_6to4_is_judged_by_its_ipv4_whatever_the_subnet_and_host_bits(inner: V4, rest: int) -> None:
    assert not is_public(six_to_four(inner, rest))


@given(inner=v4s.filter(is_public), form=st.sampled_from(["NAT64", "IPv4-mapped", "6to4"]))
def test_a_public_ipv4_stays_reachable_through_routable_wrappings(inner: V4, form: str) -> None:
    assert is_public(WRAPS[form](inner))


@given(server=v4s, client=v4s, flags=st.integers(0, 0xFFFF))
@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_teredo_is_never_fetched(server: V4, client: V4, flags: int) -> None:
    address = teredo(server, client, flags)
    assert address.teredo == (server, client)
    assert not is_public(address)


@given(low=st.integers(0, 2**80 - 1))
def test_the_local_use_nat64_prefix_is_never_fetched(low: int) -> None:
    address = V6(int(NAT64_LOCAL_USE.network_address) | low)
    assert not is_public(address)


@given(address=v6s)
def test_other_ipv6_follows_ipaddress_is_global(address: V6) -> None:
    if embedded_ipv4(address) or address in NAT64_LOCAL_USE:
        return
    assert is_public(address) == (address.is_global and not address.is_multicast)


@given(address=v4s)
def test_ipv4_follows_ipaddress_is_global(address: V4) -> None:
    assert is_public(address) == (address.is_global and not address.is_multicast)


def _spellings(address: V4) -> list[str]:
    """The ways inet_aton (and so getaddrinfo) accepts the same IPv4 address."""
    octets = address.packed
    return [
        str(int(address)),
        hex(int(address)),
        ".".join(f"0{octet:o}" for octet in octets),
        ".".join(hex(octet) for octet in octets),
        f"{octets[0]}.{int.from_bytes(octets[1:], 'big')}",
    ]


@given(inner=st.sampled_from([V4(a) for a in DANGEROUS_V4[:7]]), choice=st.integers(0, 4))
def test_every_spelling_of_a_private_ipv4_is_refused(inner: V4, choice: int) -> None:
    spelling = _spellings(inner)[choice]
    with pytest.raises(FetchRefused) as refused:
        asyncio.run(check_url(f"http://{spelling}/", Allowlist.parse("")))
    # Either the URL parser rejects the spelling, or it resolves to the address and is judged by it.
    message = str(refused.value)
    assert message.startswith("invalid URL") or f"resolves to {inner}," in message
