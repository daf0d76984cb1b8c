"""The engine's settings: what the host application (or the command line) configures, else the defaults.

The engine never reads Django's settings itself. The platform calls :func:`configure` once at
start-up with its ``SANDBOX_*`` settings (``assessments.apps``); a tool that runs the engine alone
passes what it needs, or relies on the environment variable of the same name.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_values: dict[str, Any] = {}
_lock = threading.Lock()


def configure(**values: Any) -> None:
    """Set engine settings by name (``SANDBOX_BWRAP="bwrap"``, ...); later calls override earlier ones."""
    with _lock:
        _values.update(values)


def setting(name: str, default: Any = None) -> Any:
    """A configured value, else the environment variable of that name (as text), else ``default``."""
    with _lock:
        if name in _values and _values[name] is not None:
            return _values[name]
    return os.environ.get(name, default) if isinstance(default, (str, type(None))) else default
