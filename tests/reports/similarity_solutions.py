"""Honest solutions for the similarity tests: each one written differently, as independent people would.

A solution is generated from a seed: a few functions whose statements, control flow and expressions
are drawn at random from the shapes people write (loops, retries, guards, dict building, string
formatting, comprehensions, try/except). Two seeds share the language and the shapes, as two honest
candidates do, but not the same code in the same order; the starter kit's files ride along unchanged.
"""

import random
import re
from pathlib import Path

from tests.builders import graded_submission, package_files_write

HELPDESK = Path(__file__).resolve().parents[2] / "exercises" / "helpdesk-answerer"


def _python(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.py"))}


STARTER = _python(HELPDESK / "starter")
REFERENCE = _python(HELPDESK / "reference")


def with_helpdesk_kit(exercise) -> None:
    """Give ``exercise`` (conftest's ``custom_exercise``) the helpdesk take-home's real starter kit and
    reference, and room for their files in an upload."""
    exercise.limits = {**exercise.limits, "max_files": 100}
    exercise.save(update_fields=["limits"])
    package_files_write(
        exercise,
        {f"starter/{p}": s for p, s in STARTER.items()} | {f"reference/{p}": s for p, s in REFERENCE.items()},
    )


def submit(assessment, name: str, files: dict[str, str]):
    """A graded upload of ``files`` beside the starter kit's (as a real one holds them)."""
    email = f"{name.lower().replace(' ', '.')}@example.com"
    return graded_submission(assessment, name=name, email=email, files=STARTER | files, checked=False)


_OPS = ["+", "-", "*", "//", "%", "<<", "|", "&", "^"]
_CMP = ["<", "<=", ">", ">=", "==", "!=", "in", "not in", "is", "is not"]
_WORDS = [
    "attempt",
    "retries",
    "delay",
    "deadline",
    "reply",
    "status",
    "answer",
    "question",
    "corpus",
    "chunk",
    "score",
    "limit",
    "budget",
    "tokens",
    "prompt",
    "cache",
    "key",
    "value",
    "result",
    "items",
    "entry",
    "doc",
    "title",
    "body",
    "text",
    "count",
    "total",
    "index",
]


class _Writer:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.names: list[str] = []

    def name(self) -> str:
        word = self.rng.choice(_WORDS)
        return f"{word}_{self.rng.randrange(100)}" if self.rng.random() < 0.3 else word

    def atom(self) -> str:
        r = self.rng.random()
        if r < 0.45 and self.names:
            return self.rng.choice(self.names)
        if r < 0.7:
            return str(self.rng.randrange(1000))
        if r < 0.85:
            return repr(self.rng.choice(_WORDS))
        return f"{self.name()}({self.atom()})"

    def expr(self, depth: int = 0) -> str:
        r = self.rng.random()
        if depth > 2 or r < 0.3:
            return self.atom()
        if r < 0.55:
            return f"{self.expr(depth + 1)} {self.rng.choice(_OPS)} {self.expr(depth + 1)}"
        if r < 0.65:
            return f"[{self.expr(depth + 1)} for {self.name()} in {self.atom()}]"
        if r < 0.75:
            return f"{{{self.atom()}: {self.expr(depth + 1)}}}"
        if r < 0.85:
            return (
                f"{self.atom()}.{self.name()}({', '.join(self.expr(depth + 1) for _ in range(self.rng.randrange(3)))})"
            )
        return f"({self.expr(depth + 1)} if {self.cond(depth + 1)} else {self.expr(depth + 1)})"

    def cond(self, depth: int = 0) -> str:
        c = f"{self.atom()} {self.rng.choice(_CMP)} {self.expr(depth + 1)}"
        return f"not {c}" if self.rng.random() < 0.2 else c

    def block(self, indent: int, depth: int, size: int) -> list[str]:
        pad = "    " * indent
        lines = []
        for _ in range(size):
            r = self.rng.random()
            if depth < 2 and r < 0.15:
                lines.append(f"{pad}for {self._new()} in {self.expr()}:")
                lines += self.block(indent + 1, depth + 1, self.rng.randint(1, 3))
            elif depth < 2 and r < 0.3:
                lines.append(f"{pad}if {self.cond()}:")
                lines += self.block(indent + 1, depth + 1, self.rng.randint(1, 3))
                if self.rng.random() < 0.5:
                    lines.append(f"{pad}else:")
                    lines += self.block(indent + 1, depth + 1, self.rng.randint(1, 2))
            elif depth < 2 and r < 0.4:
                lines.append(f"{pad}while {self.cond()}:")
                lines += self.block(indent + 1, depth + 1, self.rng.randint(1, 3))
            elif depth < 2 and r < 0.5:
                lines.append(f"{pad}try:")
                lines += self.block(indent + 1, depth + 1, self.rng.randint(1, 2))
                lines.append(f"{pad}except {self.rng.choice(['ValueError', 'KeyError', 'OSError'])}:")
                lines += self.block(indent + 1, depth + 1, 1)
            elif r < 0.6:
                lines.append(f"{pad}{self.atom()}.{self.name()}({self.expr()})")
            elif r < 0.67 and self.names:
                lines.append(f"{pad}{self.rng.choice(self.names)} {self.rng.choice(['+=', '-=', '|='])} {self.expr()}")
            elif r < 0.72:
                lines.append(f"{pad}log.info({self.rng.choice(_WORDS)!r}, {self.atom()})")
            else:
                lines.append(f"{pad}{self._new()} = {self.expr()}")
        return lines

    def _new(self) -> str:
        n = self.name()
        self.names.append(n)
        return n

    def function(self) -> str:
        self.names = [self.name() for _ in range(self.rng.randint(1, 3))]
        head = f"def {self.name()}_{self.rng.randrange(1000)}({', '.join(self.names)}):"
        body = self.block(1, 0, self.rng.randint(5, 9))
        body.append(f"    return {self.expr()}")
        return "\n".join([head, *body]) + "\n"


def honest_solution(seed: int, *, functions: int = 8) -> dict[str, str]:
    """``helpdesk/*.py`` of one honest candidate: two modules of generated functions."""
    writer = _Writer(seed)
    funcs = [writer.function() for _ in range(functions)]
    half = functions // 2
    header = "import logging\n\nlog = logging.getLogger(__name__)\n\n\n"
    return {
        "helpdesk/solution.py": header + "\n\n".join(funcs[:half]),
        "helpdesk/support.py": header + "\n\n".join(funcs[half:]),
    }


def renamed_and_reordered(files: dict[str, str], *, seed: int) -> dict[str, str]:
    """A copy that hides: every identifier a person chose renamed, functions in another order,
    comments added, modules under other names."""
    rng = random.Random(seed)
    out = {}
    for path, source in files.items():
        chunks = source.split("\n\n\n")
        head, funcs = chunks[0], chunks[1:]
        rng.shuffle(funcs)
        text = "\n\n\n".join([head, *funcs])
        text = re.sub(
            r"\b(" + "|".join(_WORDS) + r")(_\d+)?\b", lambda m: f"my_{m.group(1)[::-1]}{rng.randrange(9)}", text
        )
        text = text.replace("\n    return", "\n    # all done here\n    return")
        out[path.replace(".py", "_v2.py")] = text
    return out
