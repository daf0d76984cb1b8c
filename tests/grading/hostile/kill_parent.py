"""Kills its parent, PID 1, then every process it may signal."""

import os
import signal
import subprocess

print(f"parent {os.getppid()}", flush=True)
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
        print(f"kill {target}: sent", flush=True)
    except OSError as exc:
        print(f"kill {target}: {exc.strerror}", flush=True)
subprocess.run(["sh", "-c", "kill -9 -1"], check=False)
print("still here", flush=True)
