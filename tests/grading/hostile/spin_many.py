"""Four processes spinning at once: each stays under any per-process CPU limit for a while."""

import os

print("spinning x4", flush=True)
for _ in range(3):
    if os.fork() == 0:
        break
while True:
    pass
