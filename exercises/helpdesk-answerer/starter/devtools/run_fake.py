"""Run the bundled fake model locally, with the public responder and a fault scenario.

    python devtools/run_fake.py                          # healthy model on port 8765
    python devtools/run_fake.py --scenario overloaded    # a scenario from fault_scripts.toml
    python devtools/run_fake.py --scenario misquote      # a content fault: the model misquotes
    python devtools/run_fake.py --script "529*2,ok"      # any script (grammar: devtools/fakemodel/__init__.py)
    python devtools/run_fake.py --script prose --mode off-topic   # any script with any responder mode
    python devtools/run_fake.py --list                   # every scenario

A scenario is a fault script (what the API does: rate limits, stalls, broken output, ...) and a
responder mode (what the model says: ``healthy``, or a content fault such as ``misquote``; the
modes are listed in devtools/responder.py). ``--mode`` overrides the scenario's mode.

Then, in another shell, point your code at it:

    export ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=sk-local-dummy
    export HELPDESK_DOCS_DIR="$PWD/docs"

While it runs, GET http://127.0.0.1:8765/_fake/requests lists every request it received (timing,
headers, body, tokens), and POST /_fake/reset with {"script": "..."} switches the script (the mode
stays until you restart it).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS_FILE = HERE / "fault_scripts.toml"
DEFAULT_MODE = "healthy"


def load_scenarios(path: Path = SCENARIOS_FILE) -> dict[str, dict[str, str]]:
    """Name -> {"script", "mode", "question"} for every scenario of fault_scripts.toml.

    A scenario is a script on one line (``name = "529,ok"``: the healthy responder) or a table with
    ``script`` (default ``"ok"``), ``mode`` (default ``"healthy"``) and an optional ``question``.
    """
    raw = tomllib.loads(path.read_text(encoding="utf-8")).get("scenarios", {})
    scenarios = {}
    for name, value in raw.items():
        if isinstance(value, str):
            value = {"script": value}
        if not isinstance(value, dict) or set(value) - {"script", "mode", "question"}:
            raise ValueError(f"{path.name}: scenario {name!r} must be a script or a table of script, mode, question")
        if not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f"{path.name}: scenario {name!r}: script, mode and question are strings")
        scenarios[name] = {
            "script": value.get("script", "ok"),
            "mode": value.get("mode", DEFAULT_MODE),
            "question": value.get("question", ""),
        }
    return scenarios


def main() -> int:
    sys.path.insert(0, str(HERE))
    import fakemodel  # a package bundled next to this file when the starter kit is built
    import responder

    scenarios = load_scenarios()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scenario", choices=sorted(scenarios), help="a named scenario from fault_scripts.toml")
    group.add_argument("--script", help="a fault script, e.g. '429(retry_after=2),ok'")
    group.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--mode", choices=list(responder.MODES), help="the responder mode (default: the scenario's)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--max-in-flight", type=int, help="answer 429 above this many concurrent requests")
    args = parser.parse_args()
    if args.list:
        for name, scenario in scenarios.items():
            print(f"{name:20} script={scenario['script']!r:28} mode={scenario['mode']}")
        return 0
    scenario = scenarios[args.scenario or "happy"]
    script = args.script or scenario["script"]
    mode = args.mode or (DEFAULT_MODE if args.script else scenario["mode"])
    if mode not in responder.MODES:
        parser.error(f"fault_scripts.toml: unknown mode {mode!r}; known: {', '.join(responder.MODES)}")
    callable_name = responder.MODES[mode].__name__
    argv = ["--port", str(args.port), "--script", script, "--responder", f"{HERE / 'responder.py'}:{callable_name}"]
    if args.max_in_flight:
        argv += ["--max-in-flight", str(args.max_in_flight)]
    print(f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{args.port} ANTHROPIC_API_KEY=sk-local-dummy", flush=True)
    print(f'export HELPDESK_DOCS_DIR="{HERE.parent / "docs"}"', flush=True)
    print(f"# responder mode: {mode}", flush=True)
    if scenario["question"] and not args.script:
        print(f"# a question that shows it: {scenario['question']}", flush=True)
    return fakemodel.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
