"""Small builders on top of grafana-foundation-sdk that every dashboard here shares: the Prometheus data
source variable, label variables, and the few panel shapes the dashboards use (time series, stat, state
timeline), each with its queries and a description saying what it shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_models

# Every panel reads the data source picked in the dashboard's `datasource` variable, so the JSON imports
# into any Grafana (kube-prometheus-stack's, or one pointed at the local Prometheus).
DATASOURCE = dashboard_models.DataSourceRef(type_val="prometheus", uid="${datasource}")
PANEL_HEIGHT = 8
Panel = timeseries.Panel | stat.Panel | statetimeline.Panel


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and the legend of its series."""

    expr: str
    legend: str = ""
    instant: bool = False


def builtin_annotations() -> dashboard_builders.AnnotationQuery:
    """Grafana's own annotations and alerts (what every new dashboard in Grafana's UI starts with)."""
    return (
        dashboard_builders.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(dashboard_models.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .type("dashboard")
        .built_in(1)
    )


def datasource_variable() -> dashboard_builders.DatasourceVariable:
    return dashboard_builders.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(
    name: str, label: str, selector: str, include_all: bool = True
) -> dashboard_builders.QueryVariable:
    """A variable listing the values of `label` on the series `selector` selects (multi-select, All)."""
    variable = (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": f"label_values({selector}, {name})", "refId": "PrometheusVariableQueryEditor"})
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
        .multi(include_all)
    )
    if include_all:
        variable = variable.include_all(True).all_value(".*")
    return variable


# The gateway's namespace (its environment: mlops-dev, mlops-prod). Both report to the cluster's one
# Prometheus with the same model names, so gateway panels select exactly one (single choice, no All).
GATEWAY_NAMESPACE = 'namespace="$namespace"'


def namespace_variable(metric: str) -> dashboard_builders.QueryVariable:
    """The single-choice `namespace` variable of the gateway's series (`metric`)."""
    return label_variable("namespace", "Namespace", metric, include_all=False)


def _targets(queries: Sequence[Query]) -> list[cogbuilder.Builder]:
    targets: list[cogbuilder.Builder] = []
    for ref, query in zip("ABCDEFGHIJ", queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend or "__auto").ref_id(ref)
        targets.append(target.instant() if query.instant else target.range())
    return targets


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def graph(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str = "short",
    width: int = 12,
    stacked: bool = False,
    bars: bool = False,
) -> timeseries.Panel:
    """A time series panel."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(width)
        .height(PANEL_HEIGHT)
        .legend(_legend())
        .fill_opacity(20 if stacked or bars else 8)
        .line_width(1)
    )
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS)
    return panel


def single_stat(
    title: str, description: str, queries: Sequence[Query], unit: str = "short", width: int = 12
) -> stat.Panel:
    """A stat panel (last value of each series)."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(width)
        .height(PANEL_HEIGHT // 2)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .graph_mode(common.BigValueGraphMode.AREA)
    )


def timeline(title: str, description: str, queries: Sequence[Query], width: int = 12) -> statetimeline.Panel:
    """A state timeline: one row per series, coloured while its value is present."""
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .span(width)
        .height(PANEL_HEIGHT)
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    tags: Sequence[str],
    variables: Sequence[cogbuilder.Builder[dashboard_models.VariableModel]],
    rows: Mapping[str, Sequence[Panel]],
) -> dashboard_builders.Dashboard:
    """A dashboard with the project's defaults (last 6 hours, 30 s refresh, shared crosshair, UTC): the
    data source variable, then `variables`, then one row per entry of `rows` with its panels."""
    built = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["mlops", *tags])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("utc")
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .editable()
        .annotation(builtin_annotations())
        .with_variable(datasource_variable())
    )
    for variable in variables:
        built = built.with_variable(variable)
    panel_id = 0
    for row, panels in rows.items():
        panel_id += 1
        built = built.with_row(dashboard_builders.Row(row).id(panel_id))
        for panel in panels:
            panel_id += 1
            built = built.with_panel(panel.id(panel_id))
    return built
