"""Run the fake from the command line: the folder itself, as in a starter kit
(``python devtools/fakemodel --script "529,ok"``), or ``python -m fakemodel`` from its parent folder."""

from __future__ import annotations

import sys

if __package__:
    from .cli import main
else:
    # The folder itself was run: Python put it first on sys.path and runs this file outside any
    # package. Import the package from its parent instead, so that its relative imports work and
    # its modules (script, server, ...) do not shadow top-level modules of the same names.
    import importlib
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == _here:
        sys.path[0] = os.path.dirname(_here)
    else:
        sys.path.insert(0, os.path.dirname(_here))
    main = importlib.import_module(os.path.basename(_here) + ".cli").main

sys.exit(main())
