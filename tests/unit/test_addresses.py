"""Which addresses count as public for the redirect guard (monitor.fetch.addresses)."""

from __future__ import annotations

import ipaddress

import pytest

from monitor.fetch.addresses import AddressRefused, is_public_address, private_kind

NOT_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.9.9.9", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),  # unique local
    ("fd12:3456::1", "private"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "private"),  # reserved class E, listed private by ipaddress
    ("255.255.255.255", "private"),
    ("100.100.100.200", "not globally routable"),  # shared CGNAT space (a cloud metadata address)
    ("198.18.0.1", "private"),  # benchmarking
    ("192.0.2.1", "private"),  # documentation ranges are not routable
    ("203.0.113.5", "private"),
    ("2001:db8::1", "private"),
    # IPv6 carrying a private IPv4 address
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated)
]

PUBLIC = [
    "93.184.216.34",
    "1.1.1.1",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "::ffff:93.184.216.34",  # IPv4-mapped public
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    "2002:5db8:d822::",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC)
def test_non_public_addresses_and_why(address: str, kind: str) -> None:
    assert private_kind(address) == kind
    assert not is_public_address(address)
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert private_kind(address) is None
    assert is_public_address(address)


def test_refusal_names_the_address_and_the_host_when_there_was_one() -> None:
    assert AddressRefused("127.0.0.1", "127.0.0.1", "loopback").target == "private address 127.0.0.1"
    assert AddressRefused("[::1]", "::1", "loopback").target == "private address ::1"
    named = AddressRefused("internal.example", "10.0.0.1", "private")
    assert named.target == "private address 10.0.0.1 (internal.example)"
