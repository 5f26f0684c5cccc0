"""The packaged local config serves every example type (tabular, text, image) with the demo's requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.local.examples import EXAMPLES, example_body

LOCAL = Path(__file__).resolve().parents[3] / "serving" / "examples" / "local.yaml"

# The first test here may set up the session's corpus: ten models and ten gateways on a busy machine.
pytestmark = pytest.mark.timeout(1800)


def test_the_local_config_serves_tabular_text_and_image_models(versions, corpus, gateways):
    """Seed 000's per-type predict, end to end: one request per type, as `make demo` prints them."""
    config = yaml.safe_load(LOCAL.read_text())
    # this session's registry holds the examples under other names; everything else is the packaged file
    names = {"iris": versions.name, "topics": "eq-text", "digits": "eq-digits"}
    for model in config["models"]:
        model["registered_model"] = names[model["registered_model"]]
    versions.set_alias("champion", versions.v_a)
    versions.set_alias("challenger", versions.v_b)
    gateway = gateways(config, versions.tracking_uri)
    gateway.wait_ready(timeout=120)
    answers = {}
    for kind, (model, _, _) in EXAMPLES.items():
        answer = gateway.client.post(f"/v1/models/{model}/predict", json=example_body(kind))
        assert answer.status_code == 200, answer.text
        answers[kind] = answer.json()["predictions"]
    assert answers["text"] == [0]  # "sports": the first topic of the generated corpus
    assert answers["image"] == [0]  # the first digits image is a zero
    assert len(answers["tabular"]) == 1
    status = {m: gateway.status(m)["strategy"] for m in ("iris", "topics", "digits")}
    assert status == {"iris": "canary", "topics": "single", "digits": "single"}
