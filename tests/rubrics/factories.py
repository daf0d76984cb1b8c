"""Submissions the reviewer dashboard's code pane must cope with; graded submissions come from tests.builders."""

PYC = b"\xcb\r\r\n\x01\x00\x00\x00" + b"\x00" * 40
# One file of every kind the code pane must list: a tool folder holding code, a binary, one over the
# viewer's limit, one not UTF-8, git's own log (it names the author) and a pyc the unpacking drops.
EVERY_KIND = {
    "pkg/__init__.py": "import sys\nsys.path.append('.venv/lib')\nfrom x import answer\n",
    ".venv/lib/x.py": "def answer(q):\n    return 'from the venv'\n",
    ".venv/lib/y.txt": "not python\n",
    "assets/logo.bin": b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 48,  # 12 KB
    "data/big.txt": "a" * (300 * 1024),
    "data/latin1.txt": "café".encode("latin-1"),
    ".git/logs/HEAD": "0000 1111 Dana Candidate <dana@example.com> 1700000000 +0000\tcommit: first\n",
    "pkg/__pycache__/__init__.cpython-312.pyc": PYC,
}
