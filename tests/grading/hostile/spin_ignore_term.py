"""Ignores SIGTERM (and SIGINT, SIGHUP) and spins forever."""

import signal

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
print("spinning", flush=True)
while True:
    pass
