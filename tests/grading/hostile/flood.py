"""Writes 8 MB to stdout and to stderr, then exits cleanly."""

import os

block = b"x" * 65536
for _ in range(128):
    os.write(1, block)
    os.write(2, block)
