"""NPMI from counts (aiotrack.tracing.correlation) against MLflow's
``calculate_npmi_from_counts`` over every consistent (and some inconsistent) 2x2 table of a
small population, and the proto JSON of an answer."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest

from aiotrack.tracing.correlation import correlation_from_counts

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.store.analytics.trace_correlation import calculate_npmi_from_counts


def _same(ours: float, theirs: float | None) -> bool:
    if theirs is None or math.isnan(theirs):
        return math.isnan(ours)
    return ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_every_small_table_matches_mlflow() -> None:
    checked = 0
    for total, first, second, joint in itertools.product(range(-1, 9), repeat=4):
        ours = correlation_from_counts(joint, first, second, total)
        theirs = calculate_npmi_from_counts(joint, first, second, total)
        assert _same(ours.npmi, theirs.npmi), (joint, first, second, total)
        assert _same(ours.npmi_smoothed, theirs.npmi_smoothed), (joint, first, second, total)
        checked += 1
    assert checked == 10**4


def test_large_counts_match_mlflow() -> None:
    for args in [(10, 20, 15, 100), (0, 500, 700, 10_000), (999, 1000, 1000, 1_000_000)]:
        ours, theirs = correlation_from_counts(*args), calculate_npmi_from_counts(*args)
        assert _same(ours.npmi, theirs.npmi) and _same(ours.npmi_smoothed, theirs.npmi_smoothed)


def test_json_leaves_out_an_undefined_npmi() -> None:
    assert correlation_from_counts(0, 0, 3, 10).to_json() == {
        "filter1_count": 0,
        "filter2_count": 3,
        "joint_count": 0,
        "total_count": 10,
    }
    body = correlation_from_counts(0, 2, 3, 10).to_json()
    assert body["npmi"] == -1.0 and -1 < body["npmi_smoothed"] < 0
    assert correlation_from_counts(4, 4, 4, 4).to_json()["npmi"] == 1.0
