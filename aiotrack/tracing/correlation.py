"""Correlation of two trace filters (``CalculateTraceFilterCorrelation``): normalized pointwise
mutual information (NPMI) of "matches filter 1" and "matches filter 2" over a population of
traces, computed from four counts with MLflow 3.18's formulas
(``mlflow.store.analytics.trace_correlation``).

NPMI lies in [-1, 1]: -1 the filters never match together, 0 independent, 1 always together;
NaN when undefined (an empty population, or a filter matching nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["JEFFREYS_PRIOR", "FilterCorrelation", "correlation_from_counts"]

#: Additive smoothing of the smoothed NPMI (a Jeffreys prior on every cell of the 2x2 table).
JEFFREYS_PRIOR = 0.5


@dataclass(frozen=True, slots=True)
class FilterCorrelation:
    """The answer: NPMI unsmoothed and smoothed (NaN when undefined) and the counts."""

    npmi: float
    npmi_smoothed: float
    filter1_count: int
    filter2_count: int
    joint_count: int
    total_count: int

    def to_json(self) -> dict[str, float | int]:
        """The response proto JSON: an undefined (NaN) NPMI is left out, as MLflow leaves it
        unset."""
        body: dict[str, float | int] = {}
        if not math.isnan(self.npmi):
            body["npmi"] = self.npmi
        if not math.isnan(self.npmi_smoothed):
            body["npmi_smoothed"] = self.npmi_smoothed
        body["filter1_count"] = self.filter1_count
        body["filter2_count"] = self.filter2_count
        body["joint_count"] = self.joint_count
        body["total_count"] = self.total_count
        return body


def correlation_from_counts(
    joint_count: int, filter1_count: int, filter2_count: int, total_count: int
) -> FilterCorrelation:
    """MLflow's ``calculate_npmi_from_counts``: NaN for an empty population, a filter with no
    match or inconsistent counts; an unsmoothed -1.0 when both filters match but never
    together."""
    nan = math.nan
    npmi = smoothed = nan
    n11 = joint_count
    n10 = filter1_count - joint_count
    n01 = filter2_count - joint_count
    n00 = total_count - filter1_count - filter2_count + joint_count
    if total_count > 0 and filter1_count and filter2_count and min(n11, n10, n01, n00) >= 0:
        npmi = -1.0 if joint_count == 0 else _npmi(n11, n10, n01, n00, 0)
        smoothed = _npmi(n11, n10, n01, n00, JEFFREYS_PRIOR)
    return FilterCorrelation(
        npmi=npmi,
        npmi_smoothed=smoothed,
        filter1_count=filter1_count,
        filter2_count=filter2_count,
        joint_count=joint_count,
        total_count=total_count,
    )


def _npmi(n11: float, n10: float, n01: float, n00: float, smoothing: float) -> float:
    """NPMI of a 2x2 contingency table with additive ``smoothing``, clamped to [-1, 1]."""
    s11, s10, s01, s00 = n11 + smoothing, n10 + smoothing, n01 + smoothing, n00 + smoothing
    total = s11 + s10 + s01 + s00
    n1, n2 = s11 + s10, s11 + s01
    if n1 <= 0 or n2 <= 0 or s11 <= 0:
        return math.nan
    # Perfect co-occurrence, judged on the unsmoothed cells (smoothing never leaves s11 == N).
    if n10 == 0 and n01 == 0 and n00 == 0:
        return 1.0
    log11, log_total = math.log(s11), math.log(total)
    pmi = (log11 + log_total) - (math.log(n1) + math.log(n2))
    return max(-1.0, min(1.0, pmi / -(log11 - log_total)))
