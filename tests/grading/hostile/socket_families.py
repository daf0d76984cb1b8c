"""Opens a socket (and a socket pair) of every family worth trying, and uses the three allowed ones.

AF_NETLINK talks to the kernel's routing, audit and uevent machinery; AF_VSOCK reaches the VM's
host, which no network namespace isolates; AF_PACKET and AF_ALG are kernel attack surface.
"""

import ctypes
import errno
import json
import os
import socket

FAMILIES = {
    "AF_UNIX": (1, socket.SOCK_STREAM),
    "AF_INET": (2, socket.SOCK_STREAM),
    "AF_INET6": (10, socket.SOCK_STREAM),
    "AF_NETLINK": (16, socket.SOCK_RAW),
    "AF_PACKET": (17, socket.SOCK_DGRAM),
    "AF_ALG": (38, socket.SOCK_SEQPACKET),
    "AF_VSOCK": (40, socket.SOCK_STREAM),
}
report = {}


def attempt(name, fn):
    try:
        fn()
        report[name] = "ok"
    except OSError as exc:
        report[name] = errno.errorcode.get(exc.errno, str(exc)) if exc.errno else type(exc).__name__


def open_and_close(family, kind):
    socket.socket(family, kind).close()


def open_pair(family, kind):
    for end in socket.socketpair(family, kind):
        end.close()


def raw_socket_call(family, kind):
    """socket(2) with a full 64-bit family argument, which Python's socket module would not pass."""
    number = {"x86_64": 41, "aarch64": 198}[os.uname().machine]
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_long(family), ctypes.c_long(kind), ctypes.c_long(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    os.close(fd)


def talk_over(family, host):
    """A listener and a client on the box's loopback: the allowed families still do their job."""
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, 0))
        server.listen(1)
        with socket.create_connection(server.getsockname()[:2], timeout=5) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(b"ping")
                if peer.recv(4) != b"ping":
                    raise RuntimeError("loopback lost the bytes")


def talk_over_a_pair():
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        left.sendall(b"ping")
        if right.recv(4) != b"ping":
            raise RuntimeError("socketpair lost the bytes")


for name, (family, kind) in FAMILIES.items():
    attempt(f"socket {name}", lambda family=family, kind=kind: open_and_close(family, kind))
    attempt(f"socketpair {name}", lambda family=family, kind=kind: open_pair(family, kind))
# A family number in the upper half of the 64-bit argument must not sneak past the filter: the
# kernel reads an int, so 2**32 + AF_NETLINK is AF_NETLINK.
attempt("socket AF_NETLINK high bits", lambda: raw_socket_call((1 << 32) + 16, socket.SOCK_RAW))
attempt("talk AF_INET", lambda: talk_over(socket.AF_INET, "127.0.0.1"))
attempt("talk AF_INET6", lambda: talk_over(socket.AF_INET6, "::1"))
attempt("talk AF_UNIX pair", talk_over_a_pair)
# glibc probes the interfaces over AF_NETLINK for AI_ADDRCONFIG; refused, it must assume both
# families rather than fail, or `localhost` (and the model's address) stops resolving.
attempt("resolve localhost", lambda: socket.getaddrinfo("localhost", 8080, flags=socket.AI_ADDRCONFIG))
print(json.dumps(report), flush=True)
