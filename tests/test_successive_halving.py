"""Successive halving, pure: Hyperband's rungs and the ASHA promotion rule, milliseconds, no training."""
import pytest

from search.successive_halving import Fidelity, Promotion, Rungs, max_bracket, rung_budgets
from search.ranking import rank_key


def key(accuracy, precision=0.9, size=1000):
    return rank_key({"status": "ok", "top3_accuracy": accuracy, "precision": precision}, size, min_precision=0.5)


def test_a_rung_with_fewer_than_eta_results_promotes_nothing():
    rungs = Rungs([2, 6, 18], eta=3)
    rungs.report(0, 2, key(0.9))
    rungs.report(1, 2, key(0.8))
    assert rungs.promotion() is None
    rungs.report(2, 2, key(0.7))
    assert rungs.promotion() == Promotion(0, 2, 6)


def test_a_member_is_promoted_once():
    rungs = Rungs([2, 6], eta=3)
    for member, accuracy in enumerate([0.5, 0.9, 0.6]):
        rungs.report(member, 2, key(accuracy))
    assert rungs.promotion() == Promotion(1, 2, 6)
    assert rungs.promotion() is None  # 3 results: only the top one may go on, and it has
    for member, accuracy in enumerate([0.4, 0.3, 0.95], start=3):
        rungs.report(member, 2, key(accuracy))
    assert rungs.promotion() == Promotion(5, 2, 6)  # now the top two: 5 (new best), 1 already promoted
    assert rungs.promotion() is None


def test_the_top_rung_is_scanned_first():
    rungs = Rungs([2, 6, 18], eta=3)
    for member in range(9):
        rungs.report(member, 2, key(0.5 + member / 100))
    for member in (8, 7, 6):
        rungs.report(member, 6, key(0.9 - member / 100))
    assert rungs.promotion() == Promotion(6, 6, 18)  # the best at 6 epochs, before anything at 2
    assert rungs.promotion() == Promotion(8, 2, 6)


def test_the_feasibility_first_ranking_decides_the_top():
    rungs = Rungs([2, 6], eta=3)
    rungs.report(0, 2, key(0.99, precision=0.1))  # the best top-3 but below the precision constraint
    rungs.report(1, 2, key(0.60))
    rungs.report(2, 2, key(0.70))
    assert rungs.top(2) == [2]
    assert rungs.promotion() == Promotion(2, 2, 6)


def test_ties_go_to_the_earlier_member():
    rungs = Rungs([1, 3], eta=2)
    rungs.report(4, 1, key(0.8))
    rungs.report(3, 1, key(0.8))
    assert rungs.top(1) == [3]


def test_a_crashed_job_ranks_worst_and_is_never_promoted():
    rungs = Rungs([2, 6], eta=2)
    rungs.crashed(0, 2)
    rungs.report(1, 2, key(0.1, precision=0.0))
    assert rungs.top(2) == [1]
    rungs.crashed(2, 2)
    rungs.report(3, 2, key(0.2, precision=0.0))
    assert rungs.promotion() == Promotion(1, 2, 6) and rungs.promotion() == Promotion(3, 2, 6)
    assert rungs.promotion() is None


def test_eta_must_exceed_one():
    with pytest.raises(ValueError, match="eta"):
        Rungs([1, 2], eta=1)


def test_a_promotion_that_is_not_allowed_is_passed_over_and_stays_available():
    rungs = Rungs([2, 6, 18], eta=3)
    for member, accuracy in enumerate([0.5, 0.9, 0.6]):
        rungs.report(member, 2, key(accuracy))
        rungs.report(member, 6, key(accuracy))
    assert rungs.promotion(lambda p: p.to_budget < 18) == Promotion(1, 2, 6)  # 6 -> 18 would not fit the time
    assert rungs.promotion() == Promotion(1, 6, 18)


def test_budgets_of_max_50_eta_3_by_hand():
    # s_max = floor(log3(50 / 1)) = 3; budgets 50 * 3^-(s - i), rounded: 50/27 = 1.85 -> 2, 50/9 = 5.6 -> 6,
    # 50/3 = 16.7 -> 17; with min_budget 5: s_max = floor(log3(10)) = 2.
    assert max_bracket(1, 50, 3) == 3 and rung_budgets(3, 50, 3) == (2, 6, 17, 50)
    assert max_bracket(5, 50, 3) == 2 and rung_budgets(2, 50, 3) == (6, 17, 50)


def test_eta_2_by_hand():
    assert max_bracket(2, 16, 2) == 3 and rung_budgets(3, 16, 2) == (2, 4, 8, 16)


def test_min_equal_to_max_is_one_rung():
    assert max_bracket(50, 50, 3) == 0 and rung_budgets(0, 50, 3) == (50,)


def test_budgets_are_whole_and_positive():
    assert rung_budgets(4, 5, 3) == (1, 1, 1, 2, 5)


def test_a_cheap_rung_of_a_decaying_schedule_pays_for_its_measuring_decay():
    fidelity = Fidelity(50)
    assert fidelity.measure_epochs(17, decays=True) == pytest.approx(0.2 * 17)  # one fold
    assert fidelity.measure_epochs(17, decays=False) == 0.0  # constant: measured as it stands
    assert fidelity.measure_epochs(50, decays=True) == 0.0  # the full budget is measured as it stands
    assert Fidelity(50, cheap_folds=3).measure_epochs(6, decays=True) == pytest.approx(3 * 0.2 * 6)
