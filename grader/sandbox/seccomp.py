"""The seccomp filter of every box: a classic BPF program, built here, that bwrap installs.

It refuses with EPERM what a help-desk answerer never needs and what widens the kernel's attack
surface (namespaces, ptrace, keyrings, bpf, mounts, io_uring, modules...) or outlives a process
(System V IPC), and every other ABI.
Sockets are AF_UNIX, AF_INET and AF_INET6 only: socket() and socketpair() of any other family fail
with EAFNOSUPPORT. The network namespace does not isolate AF_VSOCK (a VM worker's host) and the
others (AF_NETLINK, AF_PACKET, AF_ALG...) are kernel surface; EAFNOSUPPORT, the kernel's own answer
for a family it lacks, is what glibc expects when its AF_NETLINK probe for AI_ADDRCONFIG fails,
so name resolution falls back to assuming both IP families instead of failing.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

# Refused with EPERM (numbers for x86_64, aarch64): what a help-desk answerer never needs and what
# widens the kernel's attack surface. clone/unshare are refused only with namespace flags.
_DENIED_SYSCALLS = {
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "mount_setattr": (442, 442),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "acct": (163, 89),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    # System V IPC outlives the processes that made it: a warm box's next probe could find it.
    "shmget": (29, 194),
    "shmat": (30, 196),
    "shmctl": (31, 195),
    "semget": (64, 190),
    "semctl": (66, 191),
    "semop": (65, 193),
    "semtimedop": (220, 192),
    "msgget": (68, 186),
    "msgsnd": (69, 189),
    "msgrcv": (70, 188),
    "msgctl": (71, 187),
}
# Checked on their first argument, the family: only these pass (numbers for x86_64, aarch64).
_SOCKET_SYSCALLS = {"socket": (41, 198), "socketpair": (53, 199)}
_ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)
_ARCHES = {
    "x86_64": (0, 0xC000003E, 56, 272),
    "aarch64": (1, 0xC00000B7, 220, 97),
}  # column, AUDIT_ARCH, clone, unshare
_CLONE3 = 435
_CLONE_NEW_ANY = 0x10000000 | 0x20000000 | 0x40000000 | 0x04000000 | 0x08000000 | 0x00020000 | 0x02000000 | 0x80


def _seccomp_program() -> bytes | None:
    """A classic BPF program for ``bwrap --seccomp``; None on an architecture it does not know."""
    machine = os.uname().machine
    if machine not in _ARCHES:
        return None
    column, arch, clone, unshare = _ARCHES[machine]
    allow, errno_ret = 0x7FFF0000, 0x00050000
    eperm, enosys, eafnosupport = (errno_ret | code for code in (errno.EPERM, errno.ENOSYS, errno.EAFNOSUPPORT))
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]  # other ABIs: nothing
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]  # the x32 ABI
    # clone3 passes its flags in memory a filter cannot read; ENOSYS makes libc fall back to clone.
    prog += [(jeq, 0, 1, _CLONE3), (ret, 0, 0, enosys)]
    for nr in (clone, unshare):
        prog += [(jeq, 0, 4, nr), (ld, 0, 0, 16), (jset, 0, 1, _CLONE_NEW_ANY), (ret, 0, 0, eperm), (ret, 0, 0, allow)]
    # The kernel reads the family as an int, so the low 32 bits of args[0] (offset 16) are all it sees.
    for numbers in _SOCKET_SYSCALLS.values():
        families = [(jeq, len(_ALLOWED_FAMILIES) - i, 0, family) for i, family in enumerate(_ALLOWED_FAMILIES)]
        prog += [(jeq, 0, len(families) + 3, numbers[column]), (ld, 0, 0, 16), *families]
        prog += [(ret, 0, 0, eafnosupport), (ret, 0, 0, allow)]
    for numbers in _DENIED_SYSCALLS.values():
        prog += [(jeq, 0, 1, numbers[column]), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in prog)
