"""Routing: weighted distribution, stickiness, minimal key movement, agreement between replicas."""

from __future__ import annotations

import random

import pytest

from serving.routing import BUCKETS, Router, key_bucket

KEYS = [f"user-{i}" for i in range(20_000)]


def test_random_routing_follows_the_weights():
    random.seed(7)
    router = Router(["champion", "challenger"], {"champion": 90, "challenger": 10})
    picks = [router.pick() for _ in range(20_000)]
    share = picks.count("challenger") / len(picks)
    assert 0.085 < share < 0.115


def test_keyed_routing_follows_the_weights_and_is_sticky():
    router = Router(["a", "b", "c"], {"a": 50, "b": 30, "c": 20})
    first = [router.pick(k) for k in KEYS]
    for name, weight in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        assert abs(first.count(name) / len(KEYS) - weight) < 0.02
    assert [router.pick(k) for k in KEYS] == first


def test_routing_is_a_function_of_the_weights_only():
    one = Router(["a", "b"], {"a": 70, "b": 30})
    other = Router(["a", "b"], {"b": 30, "a": 70})
    assert [one.pick(k) for k in KEYS] == [other.pick(k) for k in KEYS]
    assert key_bucket("user-1") == key_bucket("user-1") < BUCKETS


@pytest.mark.parametrize(
    ("before", "after"), [((90, 10), (75, 25)), ((50, 50), (100, 0)), ((75, 25), (90, 10))]
)
def test_a_weight_change_moves_the_fewest_keys(before, after):
    old = Router(["champion", "challenger"], dict(zip(["champion", "challenger"], before, strict=True)))
    new = Router(["champion", "challenger"], dict(zip(["champion", "challenger"], after, strict=True)))
    moved = [k for k in KEYS if old.pick(k) != new.pick(k)]
    minimum = abs(before[0] - after[0]) / 100
    assert abs(len(moved) / len(KEYS) - minimum) < 0.01
    direction = "challenger" if after[1] > before[1] else "champion"
    assert all(new.pick(k) == direction for k in moved)


def test_only_the_variants_whose_weights_change_exchange_keys():
    old = Router(["a", "b", "c"], {"a": 40, "b": 30, "c": 30})
    new = Router(["a", "b", "c"], {"a": 40, "b": 10, "c": 50})
    assert all(old.pick(k) == new.pick(k) == "a" for k in KEYS if old.pick(k) == "a")


def test_zero_weight_variants_get_nothing_and_all_zero_is_refused():
    router = Router(["a", "b"], {"a": 100, "b": 0})
    assert {router.pick(k) for k in KEYS[:2000]} == {"a"}
    assert router.share("a") == 1.0
    with pytest.raises(ValueError, match="positive weight"):
        Router(["a", "b"], {"a": 0, "b": 0})
