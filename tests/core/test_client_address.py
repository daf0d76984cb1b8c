"""The client's address: the TCP peer, or what our own proxies say, never what the client says."""

import pytest
from django.test import RequestFactory

from core.clients import client_address, client_bucket


def _request(xff: str | None = None, peer: str = "10.0.0.2"):
    extra = {"REMOTE_ADDR": peer}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(_request()) == "10.0.0.2"
    assert client_address(_request("198.51.100.1")) == "10.0.0.2"
    assert client_address(_request("198.51.100.1, 198.51.100.2")) == "10.0.0.2"


def test_behind_one_proxy_only_the_last_entry_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(_request("203.0.113.9")) == "203.0.113.9"
    # Whatever the client wrote comes first; the proxy appended the address it saw.
    assert client_address(_request("198.51.100.1, 198.51.100.2, 203.0.113.9")) == "203.0.113.9"
    assert client_address(_request("198.51.100.1,203.0.113.9 ")) == "203.0.113.9"


def test_behind_two_proxies_it_takes_the_second_entry_from_the_right(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(_request("198.51.100.1, 203.0.113.9, 10.0.0.7")) == "203.0.113.9"


@pytest.mark.parametrize(
    "xff", [None, "", "203.0.113.9", "not-an-address, 10.0.0.7", ", 10.0.0.7", "203.0.113.9:443, x"]
)
def test_a_short_or_malformed_header_falls_back_to_the_peer(settings, xff):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(_request(xff)) == "10.0.0.2"


def test_ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4():
    assert client_bucket("2001:db8:1:2::1") == client_bucket("2001:db8:1:2:ffff::9")
    assert client_bucket("2001:db8:1:2::1") != client_bucket("2001:db8:1:3::1")
    assert client_bucket("::ffff:192.0.2.1") == client_bucket("192.0.2.1")
    assert client_bucket("192.0.2.1") != client_bucket("192.0.2.2")
    assert client_bucket("") == client_bucket("")  # no address at all is still one bucket
