"""Inter-reviewer agreement: exact and within-one agreement, Krippendorff's alpha, weighted kappa,
and when reviewers disagree.

Pure functions over plain numbers, so they can be checked by hand against published examples
(see tests/rubrics/test_agreement.py). Levels are small integers (0-3 for our rubrics). The one
place for this arithmetic: the reviews pages, the flagging of disagreements and the reports use it.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, permutations

Missing = None

# Reviewers disagree on a criterion when their levels are this far apart (0 and 2 do, 1 and 2 do not).
DISAGREEMENT_GAP = 2


def level_spread(levels: Sequence[int]) -> int:
    """Highest level minus lowest; 0 when fewer than two reviewers gave one."""
    return max(levels) - min(levels) if len(levels) >= 2 else 0


def is_disagreement(levels: Sequence[int]) -> bool:
    return level_spread(levels) >= DISAGREEMENT_GAP


def _pairable_units(data: Sequence[Sequence[int | None]]) -> list[list[int]]:
    """``data`` is coders × units (None for missing); keep units that at least two coders rated."""
    n_units = max((len(row) for row in data), default=0)
    units = []
    for u in range(n_units):
        values = [value for row in data if u < len(row) and (value := row[u]) is not None]
        if len(values) >= 2:
            units.append(values)
    return units


def krippendorff_alpha(data: Sequence[Sequence[int | None]], level: str = "ordinal") -> float | None:
    """Krippendorff's alpha for coders × units data with missing values.

    ``level`` is "nominal", "ordinal" or "interval". Returns None when there is nothing to
    compare (fewer than two pairable values, or a single value used throughout).
    """
    units = _pairable_units(data)
    coincidence: dict[tuple[int, int], float] = defaultdict(float)
    for values in units:
        m = len(values)
        for a, b in permutations(range(m), 2):
            coincidence[(values[a], values[b])] += 1 / (m - 1)
    n_c: dict[int, float] = defaultdict(float)  # weighted counts: a Counter holds ints
    for (c, _k), weight in coincidence.items():
        n_c[c] += weight
    n = sum(n_c.values())
    categories = sorted(n_c)
    if n <= 1 or len(categories) < 2:
        return None
    delta = _metric(level, categories, n_c)
    observed = sum(w * delta(c, k) for (c, k), w in coincidence.items())
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in categories for k in categories)
    return 1 - (n - 1) * observed / expected


def _metric(level: str, categories: list[int], n_c: Mapping[int, float]) -> Callable[[int, int], float]:
    if level == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if level == "interval":
        return lambda c, k: float(c - k) ** 2
    if level == "ordinal":
        index = {c: i for i, c in enumerate(categories)}

        def ordinal(c: int, k: int) -> float:
            lo, hi = sorted((index[c], index[k]))
            between = sum(n_c[categories[g]] for g in range(lo, hi + 1))
            return (between - (n_c[c] + n_c[k]) / 2) ** 2

        return ordinal
    raise ValueError(f"unknown level of measurement {level!r}")


def weighted_kappa(
    a: Sequence[int], b: Sequence[int], levels: Iterable[int], weights: str = "quadratic"
) -> float | None:
    """Cohen's kappa for two raters over the same items, unweighted, linear or quadratic weights."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    levels = sorted(set(levels))
    if not a or len(levels) < 2:
        return None
    span = levels[-1] - levels[0]

    def disagreement(x, y):
        if weights == "none":
            return 0.0 if x == y else 1.0
        d = abs(x - y) / span
        return d if weights == "linear" else d * d

    n = len(a)
    observed = sum(disagreement(x, y) for x, y in zip(a, b, strict=True)) / n
    pa, pb = Counter(a), Counter(b)
    expected = sum(pa[x] * pb[y] * disagreement(x, y) for x in levels for y in levels) / (n * n)
    if expected == 0:
        return None
    return 1 - observed / expected


def pairwise_agreement(units: Iterable[Sequence[int]]) -> tuple[float | None, float | None]:
    """Share of reviewer pairs (within each unit) that chose the same level, and within one level."""
    return pair_agreement(pair for values in units for pair in combinations(values, 2))


def pair_agreement(pairs: Iterable[tuple[int, int]]) -> tuple[float | None, float | None]:
    """Share of (level, level) pairs that are equal, and that are within one level; None for no pairs."""
    exact = within_one = n = 0
    for x, y in pairs:
        n += 1
        exact += x == y
        within_one += abs(x - y) <= 1
    if not n:
        return None, None
    return exact / n, within_one / n


def pair_count(units: Iterable[Sequence[int]]) -> int:
    """Reviewer pairs within the units: a unit rated by m reviewers holds m(m-1)/2."""
    return sum(len(values) * (len(values) - 1) // 2 for values in units)


@dataclass
class ReviewersAgreement:
    """How a few reviewers of one submission agree over its criteria (the units)."""

    reviewers: int
    units: int
    exact: float | None
    within_one: float | None
    alpha: float | None
    disagreeing: list[int] = field(default_factory=list)  # indexes of the criteria they disagree on


def reviewers_agreement(data: Sequence[Sequence[int | None]]) -> ReviewersAgreement:
    """``data`` is reviewers × criteria (None where a reviewer gave no level)."""
    n_units = max((len(row) for row in data), default=0)
    per_unit = [[value for row in data if i < len(row) and (value := row[i]) is not None] for i in range(n_units)]
    pairable = [levels for levels in per_unit if len(levels) >= 2]
    exact, within_one = pairwise_agreement(pairable)
    return ReviewersAgreement(
        reviewers=len(data),
        units=len(pairable),
        exact=exact,
        within_one=within_one,
        alpha=krippendorff_alpha(data, level="ordinal") if len(data) >= 2 else None,
        disagreeing=[i for i, levels in enumerate(per_unit) if is_disagreement(levels)],
    )
