"""The PromQL tokenizer that finds the metric names a dashboard expression reads."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# Property: expressions built from the grammar name exactly the metrics of their leaves, whatever label
# names (even `by`, `sum`, `on`) and matcher values (even braces, quotes, keywords) they carry.
_WORDS = st.sampled_from(["by", "on", "sum", "le", "job", "rate", "group_left", "x_total", "a:b"])
_NAMES = st.from_regex(r"[a-z_][a-z0-9_:]{0,12}", fullmatch=True).filter(
    lambda n: (
        n.lower()
        not in {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
        | {"unless", "offset", "bool", "atan2", "inf", "nan"}
    )
)
_VALUES = st.text(alphabet='ab{}[]()", by$.*', max_size=8).map(
    lambda v: v.replace("\\", "").replace('"', '\\"')
)


@st.composite
def _leaf(draw: st.DrawFn) -> tuple[str, set[str]]:
    name = draw(_NAMES)
    label = draw(st.sampled_from(["job", "le", "model", "on"]))
    matchers = f'{{{label}=~"{draw(_VALUES)}"}}' if draw(st.booleans()) else ""
    window = "[5m]" if draw(st.booleans()) else ""
    expr = f"{name}{matchers}{window}"
    return (f"rate({expr})" if window else expr), {name}


def _combine(children: st.SearchStrategy[tuple[str, set[str]]]) -> st.SearchStrategy[tuple[str, set[str]]]:
    def aggregate(child: tuple[str, set[str]], labels: list[str], first: bool) -> tuple[str, set[str]]:
        grouping = f"by ({', '.join(labels)})"
        text = f"sum {grouping} ({child[0]})" if first else f"sum({child[0]}) {grouping}"
        return text, child[1]

    def binary(
        left: tuple[str, set[str]], right: tuple[str, set[str]], labels: list[str]
    ) -> tuple[str, set[str]]:
        return f"({left[0]}) / on ({', '.join(labels)}) group_left (job) ({right[0]})", left[1] | right[1]

    return st.one_of(
        st.builds(aggregate, children, st.lists(_WORDS, min_size=1, max_size=3), st.booleans()),
        st.builds(binary, children, children, st.lists(_WORDS, max_size=2)),
        children.map(lambda c: (f"histogram_quantile(0.9, {c[0]})", c[1])),
    )


@given(st.recursive(_leaf(), _combine, max_leaves=6))
def test_generated_expressions_name_exactly_their_leaves(case: tuple[str, set[str]]) -> None:
    expr, names = case
    assert metric_names(expr) == names
