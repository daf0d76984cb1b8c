"""Builders every test uses: archives (given members, a folder, a zip bomb), compiled Python that
hides other source, and a graded submission."""

import io
import subprocess
import tempfile
import zipfile
from pathlib import Path


def make_zip(entries: dict[str, str | bytes] | list[tuple], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``{name: content}``, or of ``(name, content[, unix mode])`` tuples for symlinks and devices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        items = entries.items() if isinstance(entries, dict) else entries
        for item in items:
            name, content, *mode = item
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode:
                info.create_system = 3
                info.external_attr = mode[0] << 16
            zf.writestr(info, content)
    return buffer.getvalue()


# What running the code here leaves beside it; a candidate's zip of the same folder would not hold it.
_LEFT_BY_RUNNING = {"__pycache__", ".pytest_cache"}


def zip_folder(folder: Path, *, extra: dict[str, str | bytes] | None = None) -> bytes:
    """``folder`` zipped as a candidate zips their work: every file with its mode, without the
    bytecode and test caches running it here left behind; ``extra`` members are added (or replace)."""
    members = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not _LEFT_BY_RUNNING.intersection(relative.parts) and path.suffix != ".pyc":
            members[relative.as_posix()] = (path.read_bytes(), path.stat().st_mode)
    members |= {name: (content,) for name, content in (extra or {}).items()}
    return make_zip([(name, *member) for name, member in members.items()])


def zip_bomb(megabytes: int = 60, *, package: str = "echo") -> bytes:
    """``package`` with megabytes of zeros beside it that deflate to a few tens of KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(f"{package}/__init__.py", "def answer(q):\n    return q\n")
        with zf.open(f"{package}/zeros.bin", "w", force_zip64=True) as fh:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(megabytes):
                fh.write(chunk)
    return buffer.getvalue()


_COMPILE = """
import importlib.util, py_compile, sys
source = sys.argv[1]
target = importlib.util.cache_from_source(source)
py_compile.compile(
    source, cfile=target, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
)
print(target)
"""


def unchecked_pyc(source: str, *, python: str, module: str = "__init__") -> tuple[str, bytes]:
    """``source`` compiled by ``python`` into an unchecked-hash pyc: (its name in __pycache__, its bytes).

    Python loads an unchecked-hash pyc without ever looking at the .py beside it, so placed in
    ``__pycache__`` next to different source it runs instead of that source. It is compiled by the
    interpreter that will import it: the magic number and the cache tag must be that Python's.
    """
    with tempfile.TemporaryDirectory(prefix="pyc-") as tmp:
        path = Path(tmp) / f"{module}.py"
        path.write_text(source)
        done = subprocess.run([python, "-I", "-c", _COMPILE, str(path)], capture_output=True, text=True, check=True)
        compiled = Path(done.stdout.strip())
        return compiled.name, compiled.read_bytes()


def imported_answer(folder: Path, *, python: str, package: str, question: str = "hello") -> str:
    """What ``package.answer(question)`` returns when ``python`` imports it from ``folder`` as is."""
    script = f"import sys; sys.path.append({str(folder)!r}); import {package}; print({package}.answer({question!r}))"
    return subprocess.run([python, "-I", "-B", "-c", script], capture_output=True, text=True, check=True).stdout


ECHO_SOURCE = "def answer(question):\n    return {'status': 'answered', 'answer': question, 'citations': []}\n"
NOT_AN_ECHO_SOURCE = (
    "def answer(question):\n    return {'status': 'answered', 'answer': 'not an echo', 'citations': []}\n"
)


def echo_shadowed_by_a_pyc(folder: Path, *, python: str) -> tuple[str, bytes]:
    """A tiny-echo solution in ``folder`` whose ``echo/__init__.py`` echoes (it passes ``echo-plain``)
    and whose ``echo/__pycache__`` holds a pyc of code that does not. Returns (pyc path, pyc bytes).
    """
    name, pyc = unchecked_pyc(NOT_AN_ECHO_SOURCE, python=python)
    (folder / "echo" / "__pycache__").mkdir(parents=True)
    (folder / "echo" / "__init__.py").write_text(ECHO_SOURCE)
    (folder / "echo" / "__pycache__" / name).write_bytes(pyc)
    # The trap is real: Python left to itself runs the pyc, not the source a reviewer reads.
    assert "not an echo" in imported_answer(folder, python=python, package="echo")
    return f"echo/__pycache__/{name}", pyc
