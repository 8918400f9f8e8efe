from hyperband import max_bracket, rung_budgets


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
