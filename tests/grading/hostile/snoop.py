"""Looks everywhere for a secret (read from stdin): environment, /proc, /etc, /root, /work, hidden files."""

import json
import os
import sys

secret = sys.stdin.read().strip()
report = {"env": dict(os.environ), "pids": [], "found": [], "visible": {}, "unreadable": []}

for top in ("/work", "/root", "/home", "/var", "/srv", "/mnt", "/media", "/opt", "/etc", "/run", "/data", "/tmp"):
    report["visible"][top] = sorted(os.listdir(top)) if os.path.isdir(top) else None

for entry in os.listdir("/proc"):
    if not entry.isdigit():
        continue
    report["pids"].append(int(entry))
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{entry}/{name}", "rb") as fh:
                data = fh.read()
        except OSError:
            report["unreadable"].append(f"/proc/{entry}/{name}")
            continue
        if secret.encode() in data:
            report["found"].append(f"/proc/{entry}/{name}")

skip = ("/proc", "/sys", "/dev", "/usr", "/root/.pyenv", "/opt/runtime")
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(skip)]
    for name in dirs + files:
        path = os.path.join(root, name)
        if "hidden" in name or "answer_key" in name or "settings" in name or name.endswith(".sqlite3"):
            report["found"].append(path)
    for name in files:
        path = os.path.join(root, name)
        try:
            with open(path, "rb") as fh:
                if secret.encode() in fh.read(1 << 20):
                    report["found"].append(path)
        except OSError:
            pass

for path in sys.argv[1:]:  # files the test says exist on the host
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        report["found"].append(path)
    except OSError as exc:
        report["unreadable"].append(f"{path}: {exc.strerror}")

report["uid"] = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]
with open("/proc/self/status") as fh:
    status = dict(line.split(":", 1) for line in fh if ":" in line)
report["status"] = {k: status[k].strip() for k in ("NoNewPrivs", "CapEff", "CapPrm", "CapBnd", "Seccomp")}
print(json.dumps(report), flush=True)
