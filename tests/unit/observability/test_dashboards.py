"""The generated Grafana dashboards: committed as built, every PromQL expression parses (promtool), every
gateway metric they name is one the gateway declares, and the ConfigMaps carry the sidecar's label."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from observability.dashboards import DASHBOARDS, OUTPUT_DIR, render_all
from observability.dashboards.__main__ import main
from observability.dashboards.configmaps import FOLDER_ANNOTATION, SIDECAR_LABEL
from observability.dashboards.queries import Expression, committed_expressions, metric_names
from observability.exposition import parse
from observability.promql import concrete, tokenize
from serving.config import ServingConfig
from serving.metrics import Metrics
from serving.runtime import ModelRuntime

# Series Prometheus itself writes for every scrape target (not exported by an application).
PROMETHEUS_SERIES = {"up"}


def promtool_check(expressions: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` of the expressions written as recording rules."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run `make install` (ci/system-deps.sh prometheus)"
    rules = [{"record": f"dashboard:check_{i}", "expr": concrete(e)} for i, e in enumerate(expressions)]
    path = folder / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def expressions() -> list[Expression]:
    found = committed_expressions(OUTPUT_DIR)
    assert len({e.dashboard for e in found}) == len(DASHBOARDS)
    return found


def test_committed_files_are_what_the_code_builds() -> None:
    for name, text in render_all().items():
        assert (OUTPUT_DIR / name).read_text(encoding="utf-8") == text, (
            "run `python -m observability.dashboards`"
        )


def test_check_names_stale_files_and_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "mlops-serving.json").write_text("{}", encoding="utf-8")
    (tmp_path / "mlops-loop.json").unlink()
    assert main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "mlops-loop.json, mlops-serving.json" in err and "python -m observability.dashboards" in err


def test_every_expression_parses_with_promtool(expressions: list[Expression], tmp_path: Path) -> None:
    done = promtool_check([e.expr for e in expressions], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(expressions)} rules found" in done.stdout


def test_promtool_check_rejects_a_broken_expression(tmp_path: Path) -> None:
    done = promtool_check(['sum(rate(serving_requests_total{model="x"}[5m])'], tmp_path)
    assert done.returncode != 0


def test_every_gateway_metric_named_is_one_the_gateway_declares(expressions: list[Expression]) -> None:
    declared = parse(generate_latest(Metrics().registry).decode())
    unknown = {
        name: [f"{e.dashboard} {e.where}" for e in uses]
        for name, uses in metric_names(expressions).items()
        if name.startswith("serving_") and not declared.exports(name)
    }
    assert not unknown, unknown


def test_every_metric_named_belongs_to_a_scraped_component(expressions: list[Expression]) -> None:
    prefixes = ("serving_", "mlflow_", "airflow_")
    stray = [
        n for n in metric_names(expressions) if not n.startswith(prefixes) and n not in PROMETHEUS_SERIES
    ]
    assert not stray


def test_panels_read_the_chosen_data_source_and_have_unique_ids() -> None:
    for name in DASHBOARDS:
        model = json.loads((OUTPUT_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert model["uid"] == name
        panels = model["panels"]
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)) and 0 not in ids, name
        for panel in panels:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel.get("description") and panel["targets"], panel["title"]
        assert model["templating"]["list"][0]["type"] == "datasource"


def test_configmaps_carry_the_sidecar_label_and_folder() -> None:
    kustomization = yaml.safe_load((OUTPUT_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["generatorOptions"]["labels"][SIDECAR_LABEL] == "1"
    assert kustomization["generatorOptions"]["annotations"][FOLDER_ANNOTATION]
    shipped = sorted(f for entry in kustomization["configMapGenerator"] for f in entry["files"])
    assert shipped == sorted(f"{name}.json" for name in DASHBOARDS)


def _gateway_selectors(expr: str) -> list[str]:
    """The label matchers of every gateway series an expression selects ("" for a bare name)."""
    names = metric_names([Expression("", "", expr)])
    tokens = tokenize(concrete(expr))
    found = []
    for i, token in enumerate(tokens):
        if token.kind == "ident" and token.text in names and token.text.startswith("serving_"):
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            found.append(following.text if following is not None and following.kind == "matchers" else "")
    return found


def test_gateway_panels_show_one_namespace_never_dev_and_prod_merged(
    expressions: list[Expression],
) -> None:
    """dev and prod gateways share the cluster's Prometheus and serve the same model names: a panel that
    does not select the chosen namespace sums both (a prod canary's error share diluted by dev's traffic,
    dev's weight shown as prod's)."""
    merged = [
        f"{e.dashboard} {e.where}: {e.expr}"
        for e in expressions
        if e.where != "variable 'namespace'"
        for matchers in _gateway_selectors(e.expr)
        if 'namespace="$namespace"' not in matchers
    ]
    assert not merged, "\n".join(merged)
    for name in ("mlops-serving", "mlops-loop"):
        model = json.loads((OUTPUT_DIR / f"{name}.json").read_text(encoding="utf-8"))
        variable = next(v for v in model["templating"]["list"] if v["name"] == "namespace")
        assert not variable.get("multi") and not variable.get("includeAll"), name


def test_traffic_weight_panel_reads_the_gauge_on_its_0_to_100_scale() -> None:
    """`serving_variant_weight` is the split in percent (weights sum to 100): a 10 % canary is 10, which
    Grafana's `percentunit` (0-1) would show as 1000 %."""
    config = ServingConfig.model_validate(
        {
            "models": [
                {
                    "name": "iris",
                    "registered_model": "iris",
                    "strategy": "ab",
                    "variants": [
                        {"name": "stable", "alias": "champion", "weight": 90},
                        {"name": "canary", "alias": "challenger", "weight": 10},
                    ],
                }
            ]
        }
    )
    metrics = Metrics()
    ModelRuntime(config.models[0], metrics)
    assert (
        metrics.registry.get_sample_value("serving_variant_weight", {"model": "iris", "variant": "canary"})
        == 10
    )
    model = json.loads((OUTPUT_DIR / "mlops-serving.json").read_text(encoding="utf-8"))
    panel = next(p for p in model["panels"] if p.get("title") == "Traffic weight by variant")
    assert panel["fieldConfig"]["defaults"]["unit"] == "percent"
