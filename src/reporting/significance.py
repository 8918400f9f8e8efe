"""McNemar's test on paired per-image outcomes: is one classifier's top-3 hit rate different from another's?"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest, chi2

EXACT_BELOW = 25  # discordant pairs below which the exact binomial test is used (the chi-squared is poor there)


@dataclass(frozen=True)
class McNemarResult:
    """b: images only A hits, c: images only B hits; method 'exact' (binomial) or 'chi2' (continuity-corrected)."""

    only_a: int
    only_b: int
    method: str
    statistic: float
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar(hits_a: np.ndarray, hits_b: np.ndarray) -> McNemarResult:
    """Two-sided McNemar's test of paired boolean outcomes. With fewer than EXACT_BELOW discordant pairs: the
    exact binomial test of b against Binomial(b + c, 1/2), statistic min(b, c); otherwise the chi-squared
    statistic (|b - c| - 1)^2 / (b + c) with continuity correction, one degree of freedom."""
    hits_a, hits_b = np.asarray(hits_a, dtype=bool), np.asarray(hits_b, dtype=bool)
    if hits_a.shape != hits_b.shape:
        raise ValueError(f"paired outcomes differ in length: {hits_a.shape} and {hits_b.shape}")
    b, c = int(np.sum(hits_a & ~hits_b)), int(np.sum(~hits_a & hits_b))
    if b + c < EXACT_BELOW:
        p_value = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        return McNemarResult(b, c, "exact", float(min(b, c)), float(p_value))
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemarResult(b, c, "chi2", float(statistic), float(chi2.sf(statistic, 1)))
