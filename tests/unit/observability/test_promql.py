"""The PromQL tokenizer that finds the metric names a dashboard expression reads."""

import pytest

from observability.promql import PromQLSyntaxError, concrete, metric_names, tokenize


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('up{job="mlflow"} == 0', {"up"}),
        ("sum(rate(a_total[5m]))", {"a_total"}),
        # aggregation with the grouping first and last; label lists are not metrics
        ("sum by (le, variant) (rate(h_bucket[5m]))", {"h_bucket"}),
        ("sum(rate(h_bucket[5m])) by (le)", {"h_bucket"}),
        ("sum without (instance) (g)", {"g"}),
        # vector matching with group_left/on/ignoring, bool, offset, set operators
        ("a / on (x) group_left (y) b", {"a", "b"}),
        ("a / ignoring (le) group_right c", {"a", "c"}),
        ("a > bool 0 and b offset 1h or c unless d", {"a", "b", "c", "d"}),
        # strings (with keywords, braces and names inside) and matchers name no metric
        ('label_replace(m, "dst", "$1 sum by", "src", "(.*){x}")', {"m"}),
        ('m{a="b}", c=~"by|on", d!="{"}', {"m"}),
        ("m{a='x\\'y'}", {"m"}),
        # numbers, durations, subqueries, the @ modifier
        ("histogram_quantile(0.99, x_bucket) * 1e3 + 0x1F", {"x_bucket"}),
        ("max_over_time(rate(c[5m])[1h:30s])", {"c"}),
        ("m @ start()", {"m"}),
        ("time() - m", {"m"}),
        # colons are legal in names (recording rules)
        ("job:requests:rate5m", {"job:requests:rate5m"}),
        # Grafana's variables: interval ones are made concrete, others live inside strings
        ('rate(m{model=~"$model"}[$__rate_interval])', {"m"}),
        ("increase(m[${__range}])", {"m"}),
        ("topk(5, m)", {"m"}),
        ('count_values by (v) ("value", m)', {"m"}),
        ("-m", {"m"}),
        ("vector(1)", set()),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_interval_variables_become_a_duration() -> None:
    assert concrete("rate(m[$__rate_interval]) + increase(m[${__range}])") == "rate(m[5m]) + increase(m[5m])"


def test_matchers_and_ranges_are_single_tokens() -> None:
    kinds = [t.kind for t in tokenize('sum by (a) (rate(m{a="}"}[5m]))')]
    expected = "ident ident punct ident punct punct ident punct ident matchers range punct punct"
    assert kinds == expected.split()


@pytest.mark.parametrize(
    "expr",
    ['m{a="b"', "m[5m", 'm{a="b}', "m ; n", '{__name__="m"}', 'sum({__name__=~"serving_.*"})'],
)
def test_what_it_cannot_read_is_an_error(expr: str) -> None:
    with pytest.raises(PromQLSyntaxError):
        metric_names(expr)
