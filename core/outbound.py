"""Requests the platform makes to URLs its users typed (webhook endpoints): never inward.

A URL from a manager is hostile until checked. Before connecting, the host is resolved and every
address it resolves to must be public (not loopback, private, link-local, shared, reserved,
multicast or unspecified) unless it lies in a network the operator allowed. The connection is then
made to an address that was checked, not to the name again, so a DNS answer that changes between
check and use (rebinding) gains nothing. Redirects are never followed: a 3xx is an answer like any
other non-2xx, so a receiver cannot bounce the signed POST somewhere else.

Errors are reported in a few fixed words ("refused: private address", "could not connect"),
never as the socket's own message, so the delivery log cannot be used to scan ports.
"""

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED_PRIVATE = "refused: private address"


class Refused(Exception):
    """The URL may not be requested; ``str()`` is the reason, fit to show a manager."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[IPAddress, ...]


def parse_networks(networks: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(network, strict=False) for network in networks]


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _allowed(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    if is_public(address):
        return True
    plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
    return any(plain in network for network in allowed if network.version == plain.version)


def check_url(url: str, *, allowed_networks: Sequence[str] = ()) -> Target:
    """Resolve ``url`` and check where it leads; raises ``Refused`` with a reason a manager can read."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("refused: not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("refused: only http and https URLs")
    if parts.username is not None or parts.password is not None:
        raise Refused("refused: a URL with a user name or password in it")
    host = parts.hostname
    if not host:
        raise Refused("refused: the URL has no host")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused("could not resolve the host name") from None
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not addresses:
        raise Refused("could not resolve the host name")
    allowed = parse_networks(allowed_networks)
    # Every address must pass, not just one: a name that resolves to a public and a private address
    # would otherwise be a coin toss away from the inside.
    if not all(_allowed(address, allowed) for address in addresses):
        raise Refused(REFUSED_PRIVATE)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, path=path, addresses=addresses)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, verifying the certificate against the URL's host name."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float):
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_hostname = server_hostname

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_hostname)  # type: ignore[attr-defined]


def post(
    url: str, *, body: bytes, headers: dict[str, str], timeout: float, allowed_networks: Sequence[str] = ()
) -> tuple[int | None, str]:
    """POST ``body`` once; returns (status code or None, error words or "")."""
    try:
        target = check_url(url, allowed_networks=allowed_networks)
    except Refused as exc:
        return None, str(exc)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and target.port == default_port:
        host_header = f"[{target.host}]"
    elif ":" in target.host:
        host_header = f"[{target.host}]:{target.port}"
    last_error = "could not connect"
    for address in target.addresses:
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(str(address), target.port, server_hostname=target.host, timeout=timeout)
        else:
            connection = http.client.HTTPConnection(str(address), target.port, timeout=timeout)
        try:
            connection.request("POST", target.path, body=body, headers={**headers, "Host": host_header})
            response = connection.getresponse()
            response.read(64 * 1024)
        except TimeoutError:
            return None, f"no answer within {timeout:g} s"
        except ssl.SSLError:
            return None, "TLS handshake failed (is the certificate valid for this host?)"
        except (ConnectionError, OSError, http.client.HTTPException):
            last_error = "could not connect"
            continue
        finally:
            connection.close()
        if 300 <= response.status < 400:
            return response.status, f"HTTP {response.status}: redirects are not followed; give the final URL"
        if response.status >= 400:
            return response.status, f"HTTP {response.status} {response.reason}"[:200]
        return response.status, ""
    return None, last_error
