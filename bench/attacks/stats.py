"""Exact binomial confidence bounds (Clopper-Pearson) without SciPy: the binomial tail summed exactly
and the bound found by bisection."""

from __future__ import annotations

import math


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed term by term in log space."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    return min(
        1.0,
        sum(
            math.exp(
                math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
            )
            for i in range(k + 1)
        ),
    )


def clopper_pearson_upper(successes: int, trials: int, confidence: float = 0.95) -> float:
    """Upper limit of the two-sided ``confidence`` Clopper-Pearson interval: the p at which seeing
    ``successes`` or fewer has probability (1 - confidence) / 2 (k = 0: 1 - (alpha/2)^(1/n))."""
    if trials <= 0:
        return 1.0
    if successes >= trials:
        return 1.0
    tail = (1.0 - confidence) / 2
    low, high = successes / trials, 1.0
    for _ in range(100):  # the cdf falls as p rises
        mid = (low + high) / 2
        if binomial_cdf(successes, trials, mid) > tail:
            low = mid
        else:
            high = mid
    return high
