"""Fixtures for grading the bundled exercises."""

import pytest

from grader.executors import ForkServerExecutor


@pytest.fixture(scope="module")
def forkserver_executor():
    """A warm fork-server (unsandboxed, fast) shared by one module's gradings."""
    executor = ForkServerExecutor()
    executor.start()
    yield executor
    executor.close()
