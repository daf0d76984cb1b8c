"""Run the bundled fake model locally, with the public responder and a fault script.

    python devtools/run_fake.py                         # healthy model on port 8765
    python devtools/run_fake.py --scenario overloaded   # a scenario from fault_scripts.toml
    python devtools/run_fake.py --script "529*2,ok"     # any script (grammar: devtools/fakemodel/__init__.py)

Then, in another shell, point your code at it:

    export ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=sk-local-dummy
    export HELPDESK_DOCS_DIR="$PWD/docs"

While it runs, GET http://127.0.0.1:8765/_fake/requests lists every request it received (timing,
headers, body, tokens), and POST /_fake/reset with {"script": "..."} switches the script.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fakemodel  # noqa: E402  (a package bundled next to this file when the starter kit is built)


def main() -> int:
    scenarios = tomllib.loads((HERE / "fault_scripts.toml").read_text(encoding="utf-8"))["scenarios"]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scenario", choices=sorted(scenarios), help="a named script from fault_scripts.toml")
    group.add_argument("--script", help="a fault script, e.g. '429(retry_after=2),ok'")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--max-in-flight", type=int, help="answer 429 above this many concurrent requests")
    args = parser.parse_args()
    script = args.script or scenarios[args.scenario or "happy"]
    argv = ["--port", str(args.port), "--script", script, "--responder", f"{HERE / 'responder.py'}:respond"]
    if args.max_in_flight:
        argv += ["--max-in-flight", str(args.max_in_flight)]
    print(f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{args.port} ANTHROPIC_API_KEY=sk-local-dummy", flush=True)
    print(f'export HELPDESK_DOCS_DIR="{HERE.parent / "docs"}"', flush=True)
    return fakemodel.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
