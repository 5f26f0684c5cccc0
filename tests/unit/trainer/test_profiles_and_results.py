"""Model profiles schema, result file location, datasets."""

from pathlib import Path

import pytest
import yaml

from trainer.datasets import generate_topic_corpus, load_dataset
from trainer.errors import ConfigError
from trainer.profiles import PROFILES_FILE, load_profiles
from trainer.results import result_path, write_result
from trainer.settings import TrainerSettings


def test_packaged_profiles_load_and_cover_every_task() -> None:
    profiles = load_profiles()
    assert {"tabular", "text", "image", "image-gpu"} <= set(profiles.profiles)
    gpu = profiles.get("image-gpu")
    assert gpu.gpu == 1
    assert any(t.key == "nvidia.com/gpu" for t in gpu.tolerations)
    assert gpu.node_selector
    for profile in profiles.profiles.values():
        assert profile.resources.requests and profile.resources.limits
        assert not profile.image.endswith(":latest")


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(PROFILES_FILE.read_text())
    mutate(data)
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["profiles"]["tabular"].update(image="trainer:latest"), "pinned tag"),
        (lambda d: d["profiles"]["tabular"].update(image="trainer"), "pinned tag"),
        (lambda d: d["profiles"]["image-gpu"].update(tolerations=[]), "toleration for key nvidia.com/gpu"),
        (lambda d: d["profiles"]["text"]["resources"]["limits"].update(cpu="two"), "profiles.text.resources"),
        (lambda d: d["profiles"]["text"].update(gpus=1), "gpus: Extra inputs are not permitted"),
        (lambda d: d["profiles"]["text"].pop("command"), "profiles.text.command: Field required"),
        (
            lambda d: d["profiles"]["image-gpu"].update(env={"NVIDIA_VISIBLE_DEVICES": "all"}),
            "NVIDIA_VISIBLE_DEVICES must not be set: the NVIDIA device plugin exposes exactly the GPUs",
        ),
    ],
)
def test_bad_profiles_are_rejected_with_the_field(tmp_path: Path, mutate, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_profiles(_write(tmp_path, mutate))
    assert expected in str(caught.value)


def test_unknown_profile_lists_known() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        load_profiles().get("huge")


def test_result_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xcom = tmp_path / "xcom"
    monkeypatch.setenv("TRAINER_XCOM_DIR", str(xcom))
    monkeypatch.delenv("TRAINER_RESULT_FILE", raising=False)
    assert result_path(TrainerSettings(), None) is None
    xcom.mkdir()
    assert result_path(TrainerSettings(), None) == xcom / "return.json"
    monkeypatch.setenv("TRAINER_RESULT_FILE", str(tmp_path / "env.json"))
    assert result_path(TrainerSettings(), None) == tmp_path / "env.json"
    assert result_path(TrainerSettings(), str(tmp_path / "flag.json")) == tmp_path / "flag.json"


def test_write_result_is_json(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "return.json"
    text = write_result({"run_id": "abc", "metrics": {"accuracy": 0.9}}, target)
    assert target.read_text() == text and '"run_id": "abc"' in text


def test_topic_corpus_is_deterministic_and_balanced() -> None:
    first, second = generate_topic_corpus(), generate_topic_corpus()
    assert first.features["text"].tolist() == second.features["text"].tolist()
    assert len(set(first.target.tolist())) == 4
    assert len(first.features) == 480


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "diabetes", "digits", "topics"])
def test_datasets_load(name: str) -> None:
    data = load_dataset(name)
    assert len(data.features) == len(data.target) > 100


@pytest.mark.parametrize("alias", ["champion", "challenger", "blue-1", "v_next"])
def test_valid_aliases(alias: str) -> None:
    from trainer.register import check_alias

    check_alias(alias)


@pytest.mark.parametrize("alias", ["latest", "v3", "has space", "a/b", ""])
def test_invalid_aliases_are_refused_before_registering(alias: str) -> None:
    from trainer.register import check_alias

    with pytest.raises(ConfigError, match="not a valid MLflow alias"):
        check_alias(alias)
