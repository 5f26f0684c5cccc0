"""Config validation: the example loads; each mistake is named in one line; bad files stop the process."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from serving.config import ConfigError, ServingConfig, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[3] / "serving" / "examples" / "local.yaml"


def _example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_local_example_is_a_canary_of_champion_and_challenger():
    config = load_config(EXAMPLE)
    model = config.models[0]
    assert (model.name, model.registered_model, model.strategy) == ("iris", "iris", "canary")
    assert [(v.name, v.alias, v.weight) for v in model.variants] == [
        ("champion", "champion", 90),
        ("challenger", "challenger", 10),
    ]
    assert model.canary is not None and model.canary.steps == [10, 25, 50, 100]
    assert (model.canary_variant, model.baseline_variant) == ("challenger", "champion")
    assert config.default.name == "iris"


def _mutated(change) -> dict:
    data = copy.deepcopy(_example())
    change(data["models"][0])
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(strategy="rainbow"), "models.0.strategy"),
        (lambda m: m["variants"][1].update(weight=20), "sum to 100"),
        (lambda m: m["variants"][1].update(name="champion"), "unique"),
        (lambda m: m["variants"][0].pop("alias"), "models.0.variants.0.alias"),
        (lambda m: m["canary"].update(steps=[50, 25]), "steps must increase"),
        (lambda m: m["canary"].update(steps=[0, 100]), "between 1 and 100"),
        (lambda m: m.pop("canary"), "needs a canary section"),
        (lambda m: m["canary"]["gates"].update(max_error_rate=2), "models.0.canary.gates.max_error_rate"),
        (lambda m: m.update(colour="red"), "models.0.colour"),
        (lambda m: m.update(strategy="bluegreen"), "needs a bluegreen section"),
        (lambda m: m.update(strategy="single"), "exactly one non-shadow"),
        (lambda m: m.update(strategy="shadow"), "shadow: true"),
        (lambda m: m["variants"][1].update(shadow=True), "weight must be 0"),
        (lambda m: m["canary"].update(variant="nobody"), "canary.variant"),
    ],
)
def test_each_mistake_is_named(change, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(_mutated(change))
    message = str(error.value)
    assert expected in message and "\n" not in message


def test_bluegreen_and_shadow_configs():
    bluegreen = parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "registered_model": "m",
                    "strategy": "bluegreen",
                    "variants": [{"name": "blue", "alias": "blue"}, {"name": "green", "alias": "green"}],
                    "bluegreen": {"active": "green", "preview": "blue"},
                }
            ]
        }
    )
    assert bluegreen.models[0].initial_weights() == {"blue": 0, "green": 100}
    shadow = parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "registered_model": "m",
                    "strategy": "shadow",
                    "variants": [
                        {"name": "main", "alias": "champion", "weight": 100},
                        {"name": "copy", "alias": "challenger", "shadow": True},
                    ],
                }
            ]
        }
    )
    assert [v.name for v in shadow.models[0].primary_variants] == ["main"]


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="top level"):
        load_config(empty)


def _serve(**env: str) -> subprocess.CompletedProcess[str]:
    """`python -m serving` with only these settings; it must stop before it serves."""
    return subprocess.run(
        [sys.executable, "-m", "serving"],
        env={"PATH": "/usr/bin:/bin", "SERVING_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )


def test_a_bad_config_stops_the_process_with_exit_code_2_and_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutated(lambda m: m.update(strategy="rainbow"))))
    result = _serve(SERVING_CONFIG=str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "models.0.strategy" in lines[0]


def _fields_of(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside `X`, `X | None` or `list[X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_fields_of, typing.get_args(annotation))), None)


def _schema_gaps(model: type[BaseModel], schema: dict, where: str) -> list[str]:
    schema = schema.get("items", schema)
    properties = schema.get("properties", {})
    gaps = [f"{where}.{name}" for name in sorted(set(model.model_fields) ^ set(properties))]
    for name, field in model.model_fields.items():
        nested = _fields_of(field.annotation)
        if nested is not None and name in properties:
            gaps += _schema_gaps(nested, properties[name], f"{where}.{name}")
    return gaps


def test_the_chart_schema_takes_every_config_field_and_no_other():
    """Before: `body_timeout_seconds` was a gateway setting the chart's schema refused."""
    schema = json.loads(
        (Path(__file__).resolve().parents[3] / "charts/serving/values.schema.json").read_text()
    )
    assert _schema_gaps(ServingConfig, schema["properties"]["config"], "config") == []


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SERVING_WORKERS": "2"}, "SERVING_WORKERS"),
        ({"SERVING_REPLICA_ID": "pod 0/x"}, "SERVING_REPLICA_ID"),
    ],
)
def test_several_workers_or_a_bad_replica_id_stop_the_process_with_one_line(env, named):
    """Defect: prod ran `workers: 2` in one pod: both workers shared one replica id (heartbeats overwrote
    each other) and each had its own Prometheus registry. One process is one replica now."""
    result = _serve(**env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"bad setting {named}" in lines[0], lines
