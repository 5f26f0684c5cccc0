"""The control API validates training configs with the trainer's rules and messages, from the trainer's
published contract, without importing the trainer: the committed copy must match what the trainer
publishes, and both must answer every config the same way."""

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.trainconfig import CONTRACT_FILE, ConfigInvalid, TrainerConfigRules, rules
from trainer.config import ALGORITHMS_BY_TASK, DATASETS_BY_TASK, parse_config
from trainer.contract import contract
from trainer.errors import ConfigError
from trainer.estimators import build_estimator
from trainer.profiles import load_profiles

CONFIGS = Path(__file__).resolve().parents[3] / "trainer" / "configs"


def test_committed_contract_matches_the_trainer() -> None:
    """Regenerate with: python -m trainer contract > control/contracts/trainer_config.json"""
    assert json.loads(CONTRACT_FILE.read_text()) == json.loads(json.dumps(contract()))


def trainer_verdict(data: Any) -> tuple[str, Any]:
    """What `python -m trainer train` decides before it trains: the config, the profile, the names of
    the hyperparameters ("values": scikit-learn refuses a value, which the control API leaves to it)."""
    try:
        config = parse_config(data)
        load_profiles().get(config.profile_name)
    except ConfigError as error:
        return "error", str(error)
    try:
        build_estimator(config)
    except ConfigError as error:
        if "not a parameter of" in str(error):
            return "error", str(error)
        return "values", config.model_dump(mode="json")
    return "ok", config.model_dump(mode="json")


def control_verdict(data: Any) -> tuple[str, Any]:
    try:
        return "ok", rules().validate(data)
    except ConfigInvalid as error:
        return "error", str(error)


def same_verdict(data: Any) -> None:
    trainer, control = trainer_verdict(data), control_verdict(data)
    if trainer[0] == "values":
        assert control == ("ok", trainer[1])
    else:
        assert control == trainer


def test_example_configs_pass_both() -> None:
    for path in sorted(CONFIGS.glob("*.json")):
        data = json.loads(path.read_text())
        assert control_verdict(data) == trainer_verdict(data), path.name


TASKS = sorted(t.value for t in DATASETS_BY_TASK)
NAMES = sorted({n for names in DATASETS_BY_TASK.values() for n in names} | {"mnist", ""})
ALGORITHMS = sorted({a for names in ALGORITHMS_BY_TASK.values() for a in names} | {"xgboost"})
PARAMS = ["C", "max_iter", "n_estimators", "alpha", "epochs", "ngram_max", "depth", "max_features", "hidden"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 500), st.floats(allow_nan=False, width=32), st.text(max_size=5)
)
odd = st.one_of(scalars, st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), scalars))


@st.composite
def configs(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(["iris", "diabetes", "text", "digits"]))
    base = dict(json.loads((CONFIGS / f"{name}.json").read_text()))
    fields = {
        "model_name": st.one_of(st.sampled_from(["iris", "a.b-c_1", "bad name!", "", "x" * 101]), odd),
        "task": st.one_of(st.sampled_from([*TASKS, "clustering"]), odd),
        "dataset": st.one_of(st.sampled_from(NAMES), odd),
        "algorithm": st.one_of(st.sampled_from(ALGORITHMS), odd),
        "hyperparameters": st.one_of(st.dictionaries(st.sampled_from(PARAMS), scalars, max_size=3), odd),
        "experiment": st.one_of(st.sampled_from(["e", ""]), odd),
        "seed": st.one_of(st.integers(-2, 2**32 + 1), st.sampled_from(["7", 1.5, True]), odd),
        "test_size": st.one_of(st.floats(-0.5, 1.5, allow_nan=False), st.sampled_from(["0.3", 0, 1]), odd),
        "tags": st.one_of(st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), scalars)), odd),
        "profile": st.one_of(st.sampled_from([None, "tabular", "image-gpu", "huge"]), odd),
        "unknown_field": odd,
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)):
        if draw(st.booleans()) and name in base:
            del base[name]
        else:
            base[name] = draw(fields[name])
    return base if draw(st.integers(0, 30)) else draw(odd)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_control_and_trainer_answer_every_config_alike(data: Any) -> None:
    same_verdict(data)


def test_unsupported_schema_is_refused_loudly() -> None:
    broken = json.loads(CONTRACT_FILE.read_text())
    broken["schema"]["properties"]["seed"]["multipleOf"] = 2
    try:
        TrainerConfigRules(broken)
    except RuntimeError as error:
        assert "multipleOf" in str(error)
    else:
        raise AssertionError("an untranslated keyword must not be ignored")


def test_openapi_schema_of_the_config_has_no_dangling_refs() -> None:
    schema = rules().json_schema()
    assert "$ref" not in json.dumps(schema)
    assert schema["properties"]["task"]["enum"][0] == "tabular_classification"
