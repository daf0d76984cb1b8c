"""Allocates 2 GB, touching every page, 64 MB at a time."""

import sys

chunks = []
for i in range(32):
    chunks.append(b"\x01" * (64 * 1024 * 1024))
    print(f"allocated {(i + 1) * 64} MB", flush=True)
print("allocated everything: the limit did not hold", flush=True)
sys.exit(0)
