"""The webhook egress policy: which addresses a delivery may reach, and how it is pinned."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest

from app.services.notices.egress import DEFAULT_POLICY, EgressPolicy, EgressRefused, local_addresses
from app.settings import DEFAULT_REFUSED_NETWORKS, Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "fe80::1",
        "224.0.0.1",
    ],
)
def test_the_default_policy_refuses_loopback_link_local_and_metadata(address: str) -> None:
    assert not DEFAULT_POLICY.allows(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "192.168.0.10", "172.16.5.4", "8.8.8.8", "fd00::1"]
)
def test_the_default_policy_allows_private_and_public_receivers(address: str) -> None:
    assert DEFAULT_POLICY.allows(ipaddress.ip_address(address))


def test_an_agency_can_refuse_its_private_ranges_too() -> None:
    policy = EgressPolicy.refusing(["10.0.0.0/8", "192.168.0.0/16"])
    assert not policy.allows(ipaddress.ip_address("10.9.9.9"))
    assert policy.allows(ipaddress.ip_address("127.0.0.1"))  # only what is listed


async def test_a_refused_literal_is_refused_before_any_connection() -> None:
    request = httpx.Request("POST", "http://169.254.169.254/latest/meta-data")
    with pytest.raises(EgressRefused, match=r"169\.254\.169\.254"):
        await DEFAULT_POLICY.pin(request)


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(EgressRefused, match="refused network"):
        await DEFAULT_POLICY.pin(httpx.Request("POST", "http://localhost:9/hook"))


async def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(EgressRefused, match="does not resolve"):
        await DEFAULT_POLICY.pin(httpx.Request("POST", "http://no-such-host.invalid/hook"))


async def test_a_request_is_sent_to_the_checked_address_with_its_original_host() -> None:
    allow_all = EgressPolicy(())
    request = httpx.Request("POST", "https://localhost:8443/hook?x=1", content=b"{}")
    pinned = await allow_all.pin(request)
    assert pinned.url.host in {"127.0.0.1", "::1"}
    assert (pinned.url.port, pinned.url.path, pinned.url.query) == (8443, "/hook", b"x=1")
    assert pinned.headers["host"] == "localhost:8443"
    assert pinned.extensions["sni_hostname"] == "localhost"
    assert pinned.content == b"{}"


def test_a_malformed_network_setting_stops_the_service_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTSVC_WEBHOOK_REFUSED_NETWORKS", '["10.0.0.0/8", "not-a-network"]')
    with pytest.raises(SettingsError, match=r"CERTSVC_WEBHOOK_REFUSED_NETWORKS.*not-a-network"):
        load_settings()


def test_the_default_setting_is_the_default_policy() -> None:
    assert EgressPolicy.refusing(Settings().webhook_refused_networks) == DEFAULT_POLICY


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.20.0.0/16 2 0 2
        |-- 10.20.0.0
           /16 link UNICAST
        |-- 10.20.3.4
           /32 host LOCAL
        |-- 10.20.9.9
           /32 host LOCAL
  +-- 127.0.0.0/8 2 0 2
     |-- 127.0.0.0
        /8 host LOCAL
     |-- 127.0.0.1
        /32 host LOCAL
"""
IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
"""


def test_this_hosts_addresses_are_read_from_the_kernel_tables_secondaries_included(
    tmp_path: Path,
) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    assert {str(address) for address in local_addresses(tmp_path)} == {
        "10.20.3.4",
        "10.20.9.9",  # a secondary address of the same interface
        "127.0.0.1",
        "::1",
        "fd00::2",
    }


def test_without_the_kernel_tables_no_own_address_is_known(tmp_path: Path) -> None:
    assert local_addresses(tmp_path) == frozenset()


def test_the_running_hosts_own_addresses_include_loopback() -> None:
    assert ipaddress.ip_address("127.0.0.1") in local_addresses()


async def test_an_own_address_is_refused_though_its_network_is_allowed() -> None:
    own = ipaddress.ip_address("10.20.3.4")
    policy = EgressPolicy.refusing(DEFAULT_REFUSED_NETWORKS, [own])
    assert not policy.allows(own)
    assert not policy.allows(ipaddress.ip_address("::ffff:10.20.3.4"))
    assert policy.allows(ipaddress.ip_address("10.20.3.5"))  # a neighbour is a receiver
    with pytest.raises(EgressRefused, match="one of this host's own addresses"):
        await policy.pin(httpx.Request("POST", "http://10.20.3.4:8000/hook"))
    with pytest.raises(EgressRefused, match="own addresses"):
        await policy.check_receiver("http://10.20.3.4:8000/hook")
    await policy.check_receiver("http://10.20.3.5:8000/hook")


def test_own_addresses_are_refused_unless_turned_off(tmp_path: Path) -> None:
    assert EgressPolicy.from_settings(Settings(data_dir=tmp_path)).own == local_addresses()
    turned_off = Settings(data_dir=tmp_path, webhook_refuse_own_addresses=False)
    assert EgressPolicy.from_settings(turned_off).own == frozenset()


async def test_a_stored_url_with_credentials_is_never_contacted() -> None:
    request = httpx.Request("POST", "https://hook-user:Hunter2-Pass@8.8.8.8/hook")
    with pytest.raises(EgressRefused) as refused:
        await EgressPolicy(()).pin(request)
    assert "Hunter2" not in str(refused.value) and "hook-user" not in str(refused.value)


async def test_at_creation_a_name_that_does_not_resolve_yet_is_accepted() -> None:
    await DEFAULT_POLICY.check_receiver("http://no-such-host.invalid/hook")
    with pytest.raises(EgressRefused, match="refused network"):
        await DEFAULT_POLICY.check_receiver("http://localhost:9/hook")
