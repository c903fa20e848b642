"""The webhook egress policy: which addresses a delivery may reach, and how it is pinned."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from app.services.egress import DEFAULT_POLICY, EgressPolicy, EgressRefused
from app.settings import Settings, SettingsError, load_settings


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
