"""Run hostile candidate code in a bubblewrap sandbox: ``SandboxExecutor``.

It has the interface of the executors in ``executors.py`` (``name``, ``sandboxed``, ``start()``,
``launch(job) -> RunningHarness``, ``close()``), so the runner takes it as it takes
``SubprocessExecutor``; plus ``run(argv, ...) -> SandboxResult`` for running any program to the end::

    executor = SandboxExecutor.from_settings()        # SANDBOX_* settings; or SandboxExecutor(memory_mb=256)
    handle = executor.launch(job)                     # HarnessJob -> pid, stdout, stderr, poll(), kill()
    handle.isolation                                  # what this box applied (also executor.isolation)

    result = executor.run(["python", "/hostile/x.py"], timeout=5, mounts={"/hostile": host_dir},
                          env={...}, stdin=b"...", model_socket="/path/model.sock")
    result.returncode, .stdout, .stderr, .timed_out, .killed, .oom_killed, .isolation, .usage

Inside a box: the runtime venv (``scripts/build-sandbox-runtime``) at /opt/runtime (``python`` on
PATH), the submission at /submission (``PYTHONPATH``), the harness at /harness/harness.py, every
path-valued variable of ``job.env`` (e.g. ``HELPDESK_DOCS_DIR``) at /data/<name in lower case>,
all read-only; a private tmpfs at /tmp (the cwd and ``HOME``), the only writable place. The fake
model, outside, is reached through its Unix socket (``job.model_unix_socket``; for a TCP fake the
executor bridges one on the host), bound at /run/model.sock and served as http://127.0.0.1:8080 by
``socat`` running as the unprivileged user: the box's only network.

Isolation: new mount, network, PID, IPC, UTS and cgroup namespaces; a filesystem of read-only binds
of /usr (and the merged-/usr symlinks), a minimal /etc, the base interpreter's prefix, the runtime
and the mounts, nothing else of the host (no /work, /root, /home, /var, host /proc, environment);
uid 65534, no capabilities, no_new_privs, a seccomp filter against namespaces, ptrace, keyrings,
bpf, mounts and io_uring that also refuses every socket family but AF_UNIX, AF_INET and AF_INET6
(EAFNOSUPPORT: no AF_VSOCK to a VM worker's host, no AF_NETLINK, AF_PACKET, AF_ALG). Limits: a
per-run cgroup (v2, else v1 memory + pids (+ cpuacct)) for memory, processes and total CPU time,
and always rlimits as a second layer (core 0, file size, CPU per process, processes; address space
only without a memory cgroup). Killing is of the whole tree: the process group, the PID namespace
(bwrap ``--die-with-parent``) and the cgroup.

Errors (both are ``ExecutorError``, which the runner treats as ours, never the candidate's):
``SandboxUnavailable`` when bubblewrap or a helper is missing and unsafe mode is off;
``SandboxError`` when a box could not be set up. The box's init prints a per-run marker on stderr
right before it execs the candidate's program; ``launch``/``run`` consume it, so anything that
fails before it is the sandbox's fault. With ``allow_unsafe`` (``SANDBOX_ALLOW_UNSAFE=1``,
development only) and no bubblewrap, programs run as plain subprocesses with the runtime's python
and ``isolation == {"sandboxed": False, "unsandboxed": True, "reason": ...}``.

The package, bottom up: ``errors`` (the two errors), ``cgroups`` (the cgroup hierarchy and a
cgroup per run), ``seccomp`` (the syscall filter), ``box`` (the bwrap command line, the start of
one box, the running box, ``sandbox_status``) and ``executors`` (``SandboxExecutor``).
"""

from __future__ import annotations

from .box import (
    HARNESS_INSIDE,
    MODEL_PORT,
    MODEL_SOCKET_INSIDE,
    RUNTIME_INSIDE,
    SUBMISSION_INSIDE,
    TMP_INSIDE,
    IsolatedHarness,
    SandboxBox,
    sandbox_status,
)
from .cgroups import MiB
from .errors import SandboxError, SandboxUnavailable
from .executors import OUTPUT_LIMIT, SandboxExecutor, SandboxResult

__all__ = [
    "HARNESS_INSIDE",
    "MODEL_PORT",
    "MODEL_SOCKET_INSIDE",
    "OUTPUT_LIMIT",
    "RUNTIME_INSIDE",
    "SUBMISSION_INSIDE",
    "TMP_INSIDE",
    "IsolatedHarness",
    "MiB",
    "SandboxBox",
    "SandboxError",
    "SandboxExecutor",
    "SandboxResult",
    "SandboxUnavailable",
    "sandbox_status",
]
