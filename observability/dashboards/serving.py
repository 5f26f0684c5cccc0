"""The serving dashboard: traffic, end-to-end latency and errors per variant, and the rollout (canary
weight and step, phase, fleet gate decisions) of the gateway's models."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from observability.dashboards.panels import (
    GATEWAY_NAMESPACE,
    Query,
    dashboard,
    graph,
    label_variable,
    namespace_variable,
    single_stat,
    timeline,
)

UID = "mlops-serving"
# The end-to-end histogram (whole request, any answer); its _count is the request rate by code class.
HTTP = "serving_http_request_duration_seconds"
PICK = f'{GATEWAY_NAMESPACE}, model=~"$model", variant=~"$variant"'
RATE = "$__rate_interval"


def _http_rate(extra: str = "") -> str:
    return f"rate({HTTP}_count{{{PICK}{extra}}}[{RATE}])"


def _quantile(q: float, histogram: str, by: str = "variant") -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({histogram}_bucket{{{PICK}}}[{RATE}])))"


def _error_ratio(code_class: str) -> str:
    answered = _http_rate(f', code_class="{code_class}"')
    return f"sum by (variant) ({answered}) / sum by (variant) ({_http_rate()})"


def traffic_row() -> list:
    return [
        graph(
            "Requests per second by variant",
            "Predict requests answered per second (any status), from the end-to-end histogram's count.",
            [Query(f"sum by (variant) ({_http_rate()})", "{{variant}}")],
            unit="reqps",
            stacked=True,
        ),
        graph(
            "End-to-end latency p50 / p99 by variant",
            "Time from the request arriving at the gateway to the answer leaving it (all status codes).",
            [
                Query(_quantile(0.5, HTTP), "p50 {{variant}}"),
                Query(_quantile(0.99, HTTP), "p99 {{variant}}"),
            ],
            unit="s",
        ),
        graph(
            "4xx and 5xx share by variant",
            "Share of requests answered 4xx (input the version refuses) and 5xx (the model failed).",
            [Query(_error_ratio("4xx"), "4xx {{variant}}"), Query(_error_ratio("5xx"), "5xx {{variant}}")],
            unit="percentunit",
        ),
        graph(
            "Errors per second by version",
            "4xx rejections and 5xx model errors per second, by the variant and version that answered.",
            [
                Query(
                    f"sum by (variant, version) (rate(serving_request_rejections_total{{{PICK}}}[{RATE}]))",
                    "4xx {{variant}} v{{version}}",
                ),
                Query(
                    f"sum by (variant, version) (rate(serving_request_errors_total{{{PICK}}}[{RATE}]))",
                    "5xx {{variant}} v{{version}}",
                ),
            ],
            unit="reqps",
        ),
        graph(
            "Model time p99 by version",
            "Gateway time inside the model (decode and predict) per request, by the version that answered.",
            [
                Query(
                    _quantile(0.99, "serving_request_seconds", "variant, version"), "{{variant}} v{{version}}"
                )
            ],
            unit="s",
        ),
        graph(
            "Predictions per second by version",
            "Requests a version answered (2xx, 4xx and 5xx), by variant and version.",
            [
                Query(
                    f"sum by (variant, version) (rate(serving_requests_total{{{PICK}}}[{RATE}]))",
                    "{{variant}} v{{version}}",
                )
            ],
            unit="reqps",
        ),
    ]


def rollout_row() -> list:
    model = f'{GATEWAY_NAMESPACE}, model=~"$model"'
    return [
        single_stat(
            "Canary aborts (range)",
            "Canaries aborted in the selected time range.",
            [
                Query(
                    f"sum(increase(serving_canary_aborts_total{{{model}}}[$__range]))", "aborts", instant=True
                )
            ],
        ),
        single_stat(
            "Gateways scraped",
            "Gateway replicas Prometheus scrapes that answered.",
            [Query(f'sum(up{{job="gateway", {GATEWAY_NAMESPACE}}})', "up", instant=True)],
        ),
        graph(
            "Traffic weight by variant",
            "The weight each variant gets in the traffic split (a canary's weight grows step by step).",
            [Query(f"max by (model, variant) (serving_variant_weight{{{PICK}}})", "{{model}} {{variant}}")],
            unit="percent",  # the gauge is the split in percent (0-100), not a ratio
        ),
        graph(
            "Canary step",
            "The canary's current step index (its weight is in the panel on the left).",
            [Query(f"max by (model) (serving_canary_step{{{model}}})", "{{model}}")],
        ),
        timeline(
            "Rollout phase",
            "The rollout record's phase: steady, or an operation's mlflow / converge / compensate step.",
            [Query(f"max by (model, phase) (serving_rollout_phase{{{model}}}) == 1", "{{model}} {{phase}}")],
        ),
        graph(
            "Gate decisions",
            "The fleet controller's canary gate decisions (wait, advance, abort, promote) in each interval.",
            [
                Query(
                    f"sum by (model, decision) (increase(serving_gate_decisions_total{{{model}}}[{RATE}]))",
                    "{{model}} {{decision}}",
                )
            ],
            bars=True,
        ),
        graph(
            "Replicas not converged",
            "Replicas whose alias serves another version than the rollout record wants (0: converged).",
            [
                Query(
                    f"count by (model, alias) (serving_alias_converged{{{model}}} == 0)",
                    "{{model}} {{alias}}",
                )
            ],
            width=24,
        ),
    ]


def build() -> dashboard_builders.Dashboard:
    return dashboard(
        UID,
        "MLOps / Serving",
        "Gateway traffic, latency, errors and rollouts",
        ["serving"],
        variables=[
            namespace_variable("serving_variant_weight"),
            label_variable("model", "Model", f"serving_variant_weight{{{GATEWAY_NAMESPACE}}}"),
            label_variable(
                "variant", "Variant", f'serving_variant_weight{{{GATEWAY_NAMESPACE}, model=~"$model"}}'
            ),
        ],
        rows={"Traffic": traffic_row(), "Rollout": rollout_row()},
    )
