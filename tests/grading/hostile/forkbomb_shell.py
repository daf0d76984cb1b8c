"""The shell fork bomb, twice: once in a new session (escaping the process group). argv[1]: a tag."""

import subprocess
import sys
import time

tag = sys.argv[1] if len(sys.argv) > 1 else "bomb"
print("starting shell bomb", flush=True)
subprocess.Popen(["setsid", "sh", "-c", "f() { f | f & }; f", tag], start_new_session=True)
subprocess.Popen(["sh", "-c", "f() { f | f & }; f", tag])
while True:  # the bombs may starve each other out; this process stays until it is killed
    time.sleep(1)
