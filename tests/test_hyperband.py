import pytest

from hyperband import BracketManager, bracket_epochs, make_bracket, max_bracket, rung_budgets


def test_brackets_of_max_50_eta_3_min_1_by_hand():
    # s_max = floor(log3(50 / 1)) = 3; bracket s: n = ceil(4 / (s + 1) * 3^s), then n / 3^i per rung,
    # budgets 50 * 3^-(s - i), rounded: 50/27 = 1.85 -> 2, 50/9 = 5.6 -> 6, 50/3 = 16.7 -> 17.
    manager = BracketManager(1, 50, 3)
    brackets = [manager.next_bracket() for _ in range(5)]
    assert [b.sizes for b in brackets[:4]] == [(27, 9, 3, 1), (12, 4, 1), (6, 2), (4,)]
    assert [b.budgets for b in brackets[:4]] == [(2, 6, 17, 50), (6, 17, 50), (17, 50), (50,)]
    assert brackets[4] == brackets[0]


def test_bracket_epochs_count_continued_training_once():
    # 27 * 2 + 9 * (6 - 2) + 3 * (17 - 6) + 1 * (50 - 17) = 54 + 36 + 33 + 33
    assert bracket_epochs(make_bracket(3, 3, 50, 3)) == 156
    assert bracket_epochs(make_bracket(0, 3, 50, 3)) == 4 * 50


def within(epochs):
    return lambda bracket: bracket_epochs(bracket) <= epochs


def test_a_bracket_that_does_not_fit_gives_way_to_members_at_max_budget():
    manager = BracketManager(1, 50, 3)
    shrunk = manager.next_bracket(within(155))  # bracket 3 needs 156
    assert shrunk.sizes == (3,) and shrunk.budgets == (50,)
    assert manager.next_bracket(within(20)).sizes == (1,)  # at least one, even if it cannot finish
    assert manager.next_bracket(within(6 * 17 + 2 * 33)).sizes == (6, 2)  # bracket 1 fits exactly
    assert manager.next_bracket().sizes == (4,)  # the cycle went on
    assert manager.next_bracket(lambda bracket: bracket.sizes != (27, 9, 3, 1)).sizes == (27,)  # never more members


def test_eta_2_by_hand():
    # s_max = floor(log2(16 / 2)) = 3; bracket 3: n = ceil(4/4 * 8) = 8 -> 8, 4, 2, 1 at 2, 4, 8, 16.
    assert max_bracket(2, 16, 2) == 3
    bracket = make_bracket(3, 3, 16, 2)
    assert bracket.sizes == (8, 4, 2, 1) and bracket.budgets == (2, 4, 8, 16)
    assert make_bracket(1, 3, 16, 2).sizes == (4, 2)  # ceil(4/2 * 2) = 4


def test_min_equal_to_max_is_one_full_bracket():
    manager = BracketManager(50, 50, 3)
    assert manager.s_max == 0 and manager.next_bracket().budgets == (50,)


def test_budgets_are_whole_and_positive():
    assert rung_budgets(4, 5, 3) == (1, 1, 1, 2, 5)


@pytest.mark.parametrize("args", [(0, 50, 3), (60, 50, 3), (1, 50, 1)])
def test_bad_settings(args):
    with pytest.raises(ValueError):
        BracketManager(*args)
