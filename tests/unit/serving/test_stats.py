"""Mergeable window statistics: quantiles within the sketch's accuracy, O(1) recording, bounded memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from serving.stats import RELATIVE_ACCURACY, Summary, Window

latencies = st.lists(st.floats(min_value=1e-5, max_value=30.0), min_size=1, max_size=400)


def _exact_rank_value(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(latencies, min_size=1, max_size=4), q=st.sampled_from([0.5, 0.9, 0.99]))
def test_merged_quantiles_are_within_the_relative_accuracy_of_the_exact_ones(parts, q):
    merged = Summary()
    for part in parts:  # one summary per replica, merged by the leader
        replica = Summary()
        for seconds in part:
            replica.add(seconds, 200)
        merged.merge(Summary.from_json(replica.as_json()))
    everything = [s for part in parts for s in part]
    exact = _exact_rank_value(everything, q)
    assert merged.requests == len(everything)
    assert abs(merged.quantile(q) - exact) <= RELATIVE_ACCURACY * exact * 1.0001


def test_outcomes_are_counted_by_class():
    summary = Summary()
    for status in (200, 200, 404, 422, 500, 503):
        summary.add(0.01, status)
    assert (summary.requests, summary.client_errors, summary.server_errors) == (6, 2, 2)
    assert summary.error_rate == 4 / 6
    assert summary.brief()["4xx"] == 2 and Summary().quantile(0.99) is None


def test_the_window_forgets_old_slots():
    window = Window(60.0)
    window.add(0.0, 0.01, 500)
    window.add(30.0, 0.01, 200)
    assert window.summary(59.0).requests == 2
    assert window.summary(89.0).requests == 1  # the request at t=0 left the window
    assert window.summary(200.0).requests == 0
