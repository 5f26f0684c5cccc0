"""Reading the metric names a /metrics answer makes queryable."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from observability.exposition import parse


def test_prometheus_client_metrics_count_before_their_first_sample() -> None:
    registry = CollectorRegistry()
    Counter("app_requests", "h", ["x"], registry=registry)
    Histogram("app_seconds", "h", ["x"], registry=registry)
    Gauge("app_weight", "h", ["x"], registry=registry)
    exposition = parse(generate_latest(registry).decode())
    for name in (
        "app_requests_total",
        "app_seconds_bucket",
        "app_seconds_count",
        "app_seconds_sum",
        "app_weight",
    ):
        assert exposition.exports(name), name
    for name in ("app_requests", "app_weight_bucket", "app_seconds_total", "app_other"):
        assert not exposition.exports(name), name


def test_samples_are_read_as_written() -> None:
    """A counter exported without `_total` (a StatsD exporter) is stored without it."""
    text = (
        "# HELP airflow_ti_successes x\n# TYPE airflow_ti_successes counter\nairflow_ti_successes 3\n"
        '# TYPE airflow_dagrun_duration_seconds histogram\nairflow_dagrun_duration_seconds_bucket{le="1"} 1\n'
        'untyped_sample{a="b"} 1 1700000000\n'
    )
    exposition = parse(text)
    assert exposition.exports("airflow_ti_successes")
    assert not exposition.exports("airflow_ti_successes_total")
    assert exposition.exports("airflow_dagrun_duration_seconds_count")
    assert exposition.exports("untyped_sample")


def test_several_scrapes_add_up() -> None:
    exposition = parse("a 1\n", "# TYPE b_seconds summary\n")
    assert exposition.exports("a") and exposition.exports("b_seconds_sum")
    assert not exposition.exports("b_seconds_bucket")
