"""Every bundled package verifies: ``manage.py exercise verify`` reports no mismatch.

This is the calibration of every exercise in one place: each package's ``submissions.toml`` says
what its reference, its starter kit, its do-nothing and its mutants must score, probe by probe,
and the verification also runs the kit's own tests in a fresh virtualenv and checks that the brief,
the rubric and the failure modes agree (see ``grader/verify.py``). A package added under
``exercises/`` is picked up without touching this file; the fixture package written from the
authoring guide is verified too.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (ROOT / "exercises").iterdir() if (p / "exercise.toml").is_file())
# The package written from exercises/README.md alone (the guide's test): it must verify as well.
PACKAGES.append(ROOT / "tests" / "fixtures" / "exercises" / "order-extractor")

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_there_is_a_bundled_package_to_verify():
    assert PACKAGES, "no package under exercises/"


# Verified with the fork-server executor here, not in the sandbox: help-desk 2.0 is 68 probes times
# 29 gradings (reference, kit, do-nothing, 21 mutants...). Warm boxes brought a boxed grading to
# 1.14x a forked one (bench/bench_grading.py), but the forked verification already takes ~7 of the
# suite's 30 minutes on two cores, and the margin is not there for more. Outcomes are the same
# either way (measured for 2.0.0); `make verify` runs every package in the sandbox, as a release
# does, and the sandbox itself is tested by tests/grading/ and by the packages verified boxed below.
FORKED = {"helpdesk-answerer"}


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_the_package_verifies(package):
    out, progress = StringIO(), StringIO()
    executor = "forkserver" if package.name in FORKED else "sandbox"
    # Forked probes cost no interpreter start, so the two cores can carry more of them at once (a
    # forked verification used under one core at 2 x 4); timing-sensitive probes still run alone.
    spread = ["--parallel", "3", "--workers", "6"] if executor == "forkserver" else []
    try:
        call_command("exercise", "verify", str(package), "--executor", executor, *spread, stdout=out, stderr=progress)
    except CommandError as exc:
        pytest.fail(f"{exc}\n\n{out.getvalue()}\n\nprogress:\n{progress.getvalue()}", pytrace=False)

    if executor == "sandbox":
        assert "SANDBOXED" in out.getvalue() and "UNSANDBOXED" not in out.getvalue(), out.getvalue()
