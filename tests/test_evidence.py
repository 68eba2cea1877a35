import statistics

import pytest

from nnlab.evidence import compare_over_seeds


def test_a_lead_far_beyond_the_spread_names_the_winner():
    comparison = compare_over_seeds([0.90, 0.91, 0.92], [0.80, 0.80, 0.81], names=("BatchNorm", "none"))
    assert comparison.winner == "BatchNorm"
    assert comparison.difference == pytest.approx(statistics.fmean([0.10, 0.11, 0.11]))
    assert comparison.spread == pytest.approx(statistics.stdev([0.10, 0.11, 0.11]))
    assert "BatchNorm is ahead" in comparison.verdict


def test_the_second_setting_can_win_too():
    assert compare_over_seeds([0.5, 0.51, 0.49], [0.7, 0.72, 0.7], names=("a", "b")).winner == "b"


def test_a_lead_within_twice_the_spread_is_a_tie():
    # the per-seed differences 0.05, -0.01, 0.02 average 0.02 with a spread of 0.03
    comparison = compare_over_seeds([0.95, 0.90, 0.92], [0.90, 0.91, 0.90], names=("a", "b"))
    assert comparison.winner is None
    assert "within the noise" in comparison.verdict


def test_the_difference_is_paired_seed_by_seed():
    # each seed moves both settings alike: unpaired, the spread of each setting would hide a constant lead
    first, second = [0.60, 0.80, 0.95], [0.58, 0.78, 0.93]
    assert compare_over_seeds(first, second).winner == "first"


def test_identical_scores_have_no_winner():
    assert compare_over_seeds([0.9, 0.9], [0.9, 0.9]).winner is None


def test_the_margin_is_the_number_of_spreads_a_winner_needs():
    first, second = [0.93, 0.90, 0.92], [0.90, 0.90, 0.90]  # differences 0.03, 0, 0.02: mean 0.0167, spread 0.0153
    assert compare_over_seeds(first, second, margin=1.0).winner == "first"
    assert compare_over_seeds(first, second, margin=2.0).winner is None


@pytest.mark.parametrize(
    "first, second, message",
    [([0.9, 0.8], [0.9], "same seeds"), ([0.9], [0.8], "at least two seeds"), ([0.9, float("nan")], [0.8, 0.8], "finite")],
)
def test_bad_scores_are_refused_with_the_reason(first, second, message):
    with pytest.raises(ValueError, match=message):
        compare_over_seeds(first, second)
