"""The agreement functions against published, hand-computed examples."""

import pytest

from rubrics.agreement import (
    is_disagreement,
    krippendorff_alpha,
    level_spread,
    pair_agreement,
    pair_count,
    pairwise_agreement,
    reviewers_agreement,
    weighted_kappa,
)

_ = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders, 12 units,
# values 1-5 with missing data. Published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_krippendorffs_published_example(level, published):
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(published, abs=0.0005)


def test_alpha_ignores_units_rated_once_and_is_one_for_perfect_agreement():
    assert krippendorff_alpha([[0, 1, 2, 3, 3], [0, 1, 2, 3, _]]) == pytest.approx(1.0)


def test_alpha_is_undefined_without_variation():
    assert krippendorff_alpha([[2, 2, 2], [2, 2, 2]]) is None
    assert krippendorff_alpha([[1, _], [_, 2]]) is None


def test_alpha_is_negative_for_systematic_disagreement():
    assert krippendorff_alpha([[0, 3, 0, 3], [3, 0, 3, 0]], "interval") < 0


# Two raters, 12 items, levels 0-3, both with marginals 2/3/4/3. By hand, 1 - observed/expected
# disagreement: unweighted 1 - (4/12)/(106/144) = 58/106 = 0.5472; linear (|x-y|/3)
# 1 - (4/36)/(164/432) = 0.7073; quadratic ((x-y)²/9) 1 - (4/108)/(304/1296) = 0.8421.
# scikit-learn's cohen_kappa_score gives the same three figures.
RATER_A = [0, 1, 2, 3, 3, 2, 1, 0, 2, 3, 1, 2]
RATER_B = [0, 1, 2, 2, 3, 3, 1, 1, 2, 3, 0, 2]


@pytest.mark.parametrize(("weights", "expected"), [("none", 0.5472), ("linear", 0.7073), ("quadratic", 0.8421)])
def test_weighted_kappa_matches_hand_computation(weights, expected):
    assert weighted_kappa(RATER_A, RATER_B, range(4), weights) == pytest.approx(expected, abs=0.0001)


def test_pairwise_agreement_counts_exact_and_within_one():
    exact, within = pairwise_agreement([[2, 2], [1, 3], [0, 1, 1]])
    # pairs: (2,2) exact; (1,3) neither; (0,1) within; (0,1) within; (1,1) exact -> 2/5 exact, 4/5 within
    assert (exact, within) == (pytest.approx(0.4), pytest.approx(0.8))
    assert pairwise_agreement([]) == (None, None)


def test_pair_agreement_over_given_pairs_and_the_pairs_units_hold():
    assert pair_agreement([(2, 2), (1, 3), (0, 1)]) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert pair_agreement([]) == (None, None)
    assert pair_count([[2, 2], [1, 3], [0, 1, 1]]) == 5


def test_reviewers_disagree_two_levels_apart_not_one():
    assert [level_spread(levels) for levels in ([0, 2], [1, 2], [3, 0, 2], [3], [])] == [2, 1, 3, 0, 0]
    assert is_disagreement([0, 2]) and is_disagreement([3, 1, 2])
    assert not is_disagreement([1, 2]) and not is_disagreement([3])


def test_reviewers_agreement_over_one_submissions_criteria():
    # Two reviewers, four criteria; the third scored by one of them only, the fourth two levels apart.
    agreement = reviewers_agreement([[2, 1, 3, 0], [2, 2, _, 2]])
    assert (agreement.reviewers, agreement.units) == (2, 3)
    assert (agreement.exact, agreement.within_one) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert agreement.disagreeing == [3]
    assert agreement.alpha == pytest.approx(krippendorff_alpha([[2, 1, 3, 0], [2, 2, _, 2]]))
    assert reviewers_agreement([[2, 1]]).alpha is None and reviewers_agreement([]).units == 0
