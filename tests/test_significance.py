import math

import numpy as np
import pytest

from reporting.significance import mcnemar


def pairs(only_a, only_b, both=5, neither=3):
    """Paired outcomes with the given discordant counts."""
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_exact_binomial_by_hand():
    result = mcnemar(*pairs(5, 1))
    # two-sided: 2 * P(X <= 1), X ~ Binomial(6, 1/2) = 2 * (1 + 6) / 64
    assert (result.only_a, result.only_b, result.method) == (5, 1, "exact")
    assert result.p_value == pytest.approx(14 / 64) and result.statistic == 1


def test_exact_all_discordant_one_way():
    result = mcnemar(*pairs(0, 3))
    assert result.p_value == pytest.approx(2 * 0.5 ** 3)


def test_chi_squared_with_continuity_correction_by_hand():
    result = mcnemar(*pairs(30, 10))
    statistic = (abs(30 - 10) - 1) ** 2 / 40
    assert result.method == "chi2" and result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)))  # chi2 with 1 d.o.f.


def test_no_discordant_pair_is_no_evidence():
    result = mcnemar(*pairs(0, 0))
    assert result.p_value == 1.0 and result.method == "exact"


def test_switches_to_chi_squared_at_25_discordant_pairs():
    assert mcnemar(*pairs(12, 12)).method == "exact"
    assert mcnemar(*pairs(13, 12)).method == "chi2"


def test_lengths_must_match():
    with pytest.raises(ValueError, match="length"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))
