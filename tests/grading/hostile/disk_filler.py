"""Tries to write into the submission, then fills /tmp with one big file and then many files."""

import json

report = {}
try:
    with open("/submission/planted.py", "w") as fh:
        fh.write("print('planted')\n")
    report["submission"] = "written"
except OSError as exc:
    report["submission"] = exc.strerror

block = b"\0" * (1024 * 1024)
written = 0
try:
    with open("/tmp/big", "wb") as fh:
        while written < 4096 * 1024 * 1024:
            fh.write(block)
            fh.flush()
            written += len(block)
    report["big_file"] = "unlimited"
except OSError as exc:
    report["big_file"] = exc.strerror
report["big_file_mb"] = written // (1024 * 1024)

total = 0
try:
    for n in range(100_000):
        with open(f"/tmp/small-{n}", "wb") as fh:
            for _ in range(8):
                fh.write(block)
                fh.flush()
                total += len(block)
    report["many_files"] = "unlimited"
except OSError as exc:
    report["many_files"] = exc.strerror
report["many_files_mb"] = total // (1024 * 1024)
print(json.dumps(report), flush=True)
