"""Who is asking: the client's address, as far as the proxies we run can vouch for it.

X-Forwarded-For is a list that every proxy on the way appends the address it saw to; whatever a
client writes there itself comes first and can say anything. With ``TRUSTED_PROXY_COUNT`` = N
(our own proxies, each appending one entry) the client is the Nth entry from the right: the
address the outermost of our proxies saw. With 0 (no proxy, the default) the header is ignored
entirely and the address is the TCP peer's. A header shorter than N, or an entry there that is not
an IP address, means the request did not come through our proxies as configured: the TCP peer is
then the only address nobody could have forged.
"""

import hashlib
import ipaddress

from django.conf import settings
from django.http import HttpRequest

# An IPv6 client usually holds a whole /64: counting its addresses one by one would let it step
# past any limit, so the limits count the /64 it is in.
IPV6_BUCKET_PREFIX = 64


def client_address(request: HttpRequest) -> str:
    peer: str = request.META.get("REMOTE_ADDR", "")
    hops: int = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return peer
    entries = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(entries) < hops:
        return peer
    try:
        return str(ipaddress.ip_address(entries[-hops]))
    except ValueError:
        return peer


def client_bucket(address: str) -> str:
    """What a per-client limit counts: a digest of the address (of its /64 for IPv6)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        bucket = address
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4
        if isinstance(ip, ipaddress.IPv6Address):
            bucket = str(ipaddress.ip_network(f"{ip}/{IPV6_BUCKET_PREFIX}", strict=False))
        else:
            bucket = str(ip)
    return hashlib.sha256(bucket.encode()).hexdigest()[:32]
