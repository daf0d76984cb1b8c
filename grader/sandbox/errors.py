"""The sandbox's two errors, both ``ExecutorError`` (the runner treats them as ours, never the candidate's)."""

from __future__ import annotations

from grader.executors import ExecutorError


class SandboxUnavailable(ExecutorError):
    """The sandbox cannot run here (bubblewrap or a helper missing) and unsafe mode is off."""


class SandboxError(ExecutorError):
    """A box failed to set up: an infrastructure error, never the candidate's."""
