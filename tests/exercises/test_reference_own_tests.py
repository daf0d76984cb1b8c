"""The reference solution's own tests (what a strong candidate ships) pass against the fake."""

import subprocess
import sys

import pytest

from .helpdesk import EXERCISE

pytestmark = pytest.mark.slow


def test_the_reference_solutions_own_tests_pass():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", "tests"],
        cwd=EXERCISE / "reference",
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
