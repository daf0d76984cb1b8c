"""Winnowing fingerprints of Python source (Schleimer, Wilkerson and Aiken 2003, the method of MOSS and Dolos).

Why our own and not ``copydetect``: copydetect compares folders of files on disk and recomputes
every fingerprint on each run; it keeps nothing to store per submission. Here a submission's
fingerprints are computed once, when it is graded, and kept as one packed column, so comparing a
new upload with 2,000 stored ones is 2,000 set intersections (bench/bench_similarity.py), not
2,000 tokenisations. The method is the same as theirs: normalise the code, hash every k-gram,
keep the minimum hash of each window of w hashes.

- Normalising: Python's own tokenizer; every identifier becomes ``V``, every string ``S``, every
  number ``N``; keywords, operators and the indentation structure stay; comments and blank lines
  go. Renaming variables or rewording strings therefore changes nothing; reordering functions or
  statements only breaks the k-grams that straddle a moved boundary.
- A k-gram is K tokens (about one line of code): a shared run shorter than that is noise. Any shared
  run of at least K + W - 1 tokens is guaranteed to leave a shared fingerprint (the winnowing bound).
- Code the starter kit holds is not the candidate's: the caller removes its fingerprints.

No Django here: this module is the algorithm alone, tested and benchmarked on its own.
"""

import functools
import hashlib
import io
import keyword
import tokenize
from array import array
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

K = 12  # tokens per k-gram
W = 8  # winnowing window, in k-grams
MAX_FILE_BYTES = 200_000  # a bigger .py is data or generated code, not something a person wrote
MAX_FINGERPRINTS = 50_000  # per source: bounds the stored column whatever the archive holds

_KEEP_NAMES = set(keyword.kwlist) | {"self", "cls", "True", "False", "None"}
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER, tokenize.TYPE_COMMENT}


@dataclass(frozen=True, order=True)
class Span:
    """Where one fingerprint's k-gram lies: a file (index into ``Fingerprints.files``) and its lines."""

    file: int
    start: int
    end: int


@dataclass
class Fingerprints:
    """One source's fingerprints: each selected hash and where it first occurs."""

    files: list[str] = field(default_factory=list)
    spans: dict[int, Span] = field(default_factory=dict)

    @property
    def hashes(self) -> frozenset[int]:
        return frozenset(self.spans)

    def without(self, ignored: Iterable[int]) -> "Fingerprints":
        """These fingerprints less ``ignored`` ones (the starter kit's)."""
        ignored = set(ignored)
        return Fingerprints(files=self.files, spans={h: s for h, s in self.spans.items() if h not in ignored})

    # --- Storage: a packed column for the fast pass, JSON for the locations ---------------------

    def packed(self) -> bytes:
        return array("q", sorted(self.spans)).tobytes()

    def locations(self) -> dict:
        return {"files": self.files, "spans": [[h, s.file, s.start, s.end] for h, s in self.spans.items()]}

    @classmethod
    def from_locations(cls, data: Mapping) -> "Fingerprints":
        return cls(files=list(data["files"]), spans={h: Span(f, a, b) for h, f, a, b in data["spans"]})


def unpack_hashes(packed: bytes) -> frozenset[int]:
    return frozenset(array("q", packed))


def tokens(source: str) -> list[tuple[str, int]]:
    """The normalised tokens of ``source`` with their line; [] for source Python cannot tokenize."""
    out: list[tuple[str, int]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in _SKIP:
                continue
            if tok.type == tokenize.NAME:
                text = tok.string if tok.string in _KEEP_NAMES else "V"
            elif tok.type == tokenize.STRING or tok.type in _FSTRING_TYPES:
                text = "S"
            elif tok.type == tokenize.NUMBER:
                text = "N"
            elif tok.type == tokenize.NEWLINE:
                text = ";"
            elif tok.type == tokenize.INDENT:
                text = "{"
            elif tok.type == tokenize.DEDENT:
                text = "}"
            else:
                text = tok.string
            # An f-string's parts (3.12+) collapse into one S, as a plain string does.
            if text == "S" and out and out[-1][0] == "S" and tok.type in _FSTRING_TYPES:
                continue
            out.append((text, tok.start[0]))
    except (tokenize.TokenError, SyntaxError, ValueError):
        return out if len(out) >= K else []
    return out


_FSTRING_TYPES = {
    getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)
}


_MOD = (1 << 61) - 1  # a Mersenne prime: k-gram hashes fit a signed 64-bit column
_BASE = 1_000_003


@functools.lru_cache(maxsize=4096)
def _token_id(text: str) -> int:
    """A stable number per token text (Python's own hash of a str changes with each process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % _MOD


def _kgram_hashes(texts: list[str], k: int) -> list[int]:
    """The Rabin-Karp hash of every k consecutive tokens: one multiply and add per token."""
    ids = [_token_id(t) for t in texts]
    top = pow(_BASE, k - 1, _MOD)
    h = 0
    for i in range(k):
        h = (h * _BASE + ids[i]) % _MOD
    out = [h]
    for i in range(k, len(ids)):
        h = ((h - ids[i - k] * top) * _BASE + ids[i]) % _MOD
        out.append(h)
    return out


def _winnow(hashes: list[int], w: int) -> list[int]:
    """The positions winnowing selects: the rightmost minimum of each window, each position once.

    A deque of candidate minima keeps it linear in the number of hashes.
    """
    if not hashes:
        return []
    chosen: list[int] = []
    window: deque[int] = deque()
    for i, h in enumerate(hashes):
        while window and hashes[window[-1]] >= h:  # >=: the rightmost of equal minima wins
            window.pop()
        window.append(i)
        if window[0] <= i - w:
            window.popleft()
        if i >= w - 1 or i == len(hashes) - 1:
            best = window[0]
            if not chosen or chosen[-1] != best:
                chosen.append(best)
    return chosen


def fingerprint(files: Mapping[str, str], *, k: int = K, w: int = W) -> Fingerprints:
    """The fingerprints of a set of Python files (path -> source), in path order."""
    result = Fingerprints()
    for path in sorted(files):
        toks = tokens(files[path])
        if len(toks) < k:
            continue
        index = len(result.files)
        result.files.append(path)
        grams = _kgram_hashes([t for t, _ in toks], k)
        for pos in _winnow(grams, w):
            h = grams[pos]
            if h not in result.spans:
                result.spans[h] = Span(index, toks[pos][1], toks[pos + k - 1][1])
        if len(result.spans) >= MAX_FINGERPRINTS:
            break
    return result


def similarity(a: frozenset[int], b: frozenset[int]) -> tuple[float, int]:
    """(score, shared): Dolos's similarity, 2|A∩B| / (|A| + |B|), in [0, 1], and |A∩B|.

    Symmetric, and a small file wholly inside a big one does not score 1 (a containment ratio
    would call a ten-line helper that a big solution also has a full copy).
    """
    if not a or not b:
        return 0.0, 0
    shared = len(a & b)
    return 2 * shared / (len(a) + len(b)), shared


@dataclass(frozen=True)
class Fragment:
    """A run of shared code: lines of a file on each side, and how many fingerprints it holds."""

    file: str
    start: int
    end: int
    other_file: str
    other_start: int
    other_end: int
    fingerprints: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()

    def swapped(self) -> "Fragment":
        return Fragment(
            self.other_file, self.other_start, self.other_end, self.file, self.start, self.end, self.fingerprints
        )


def fragments(ours: Fingerprints, theirs: Fingerprints, *, gap: int = 3, limit: int = 5) -> list[Fragment]:
    """The shared code as runs of lines on both sides, biggest first (at most ``limit``).

    Shared fingerprints next to each other on our side (within ``gap`` lines) and in the same file
    and near each other on theirs merge into one fragment, so a copied function shows as one block.
    """
    pairs = sorted((ours.spans[h], theirs.spans[h]) for h in ours.spans.keys() & theirs.spans.keys())
    runs: list[list] = []
    for mine, other in pairs:
        if runs:
            last = runs[-1]
            near_here = mine.file == last[0] and mine.start <= last[2] + gap
            near_there = other.file == last[3] and last[4] - gap <= other.start <= last[5] + gap
            if near_here and near_there:
                last[2] = max(last[2], mine.end)
                last[4] = min(last[4], other.start)
                last[5] = max(last[5], other.end)
                last[6] += 1
                continue
        runs.append([mine.file, mine.start, mine.end, other.file, other.start, other.end, 1])
    runs.sort(key=lambda r: (-r[6], r[0], r[1]))
    return [Fragment(ours.files[f], a, b, theirs.files[of], oa, ob, n) for f, a, b, of, oa, ob, n in runs[:limit]]
