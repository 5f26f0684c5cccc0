"""Protocol conformance checked by each protocol's own client against running gateways.

MLflow: `mlflow.pyfunc.scoring_server.client.ScoringServerClient` (wait ready on /ping, invoke with a
DataFrame and params, version). Open Inference Protocol: `tritonclient.http` (server live/ready/
metadata, model metadata/ready with and without version, infer with named inputs in binary and JSON,
requested outputs, request id echo, errors).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel

from tests.integration.serving.corpus import Entry
from tests.integration.serving.support import GatewayProcess

# The first test here may set up the session's corpus: ten models and ten gateways on a busy machine.
pytestmark = pytest.mark.timeout(1800)


class Scaled(PythonModel):
    """x * factor, where factor is an inference parameter (default 1.0)."""

    def predict(self, context, model_input, params=None):
        return (model_input["x"] * (params or {}).get("factor", 1.0)).to_numpy()


def _entry(corpus: list[Entry], short: str) -> Entry:
    return next(e for e in corpus if e.name == f"eq-{short}")


def _host_port(gateway: GatewayProcess) -> tuple[str, int]:
    host, port = gateway.url.removeprefix("http://").split(":")
    return host, int(port)


@pytest.fixture(scope="module")
def params_gateway(mlflow_stack: Any, gateways_module: Any) -> GatewayProcess:
    """A gateway serving a pyfunc model with a params schema."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    mlflow.set_tracking_uri(mlflow_stack.tracking_uri)
    mlflow.set_experiment("conformance")
    signature = ModelSignature(
        Schema([ColSpec("double", "x")]),
        Schema([ColSpec("double")]),
        ParamSchema([ParamSpec("factor", "double", 1.0)]),
    )
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Scaled(),
            signature=signature,
            input_example=pd.DataFrame({"x": [1.0, 2.0]}),
            registered_model_name="conf-scaled",
        )
    mlflow.MlflowClient().set_registered_model_alias("conf-scaled", "champion", info.registered_model_version)
    config = {
        "models": [
            {
                "name": "scaled",
                "registered_model": "conf-scaled",
                "strategy": "single",
                "variants": [{"name": "main", "alias": "champion", "weight": 100}],
            }
        ]
    }
    return gateways_module(config, mlflow_stack.tracking_uri)


def test_mlflow_scoring_client_waits_invokes_and_passes_params(params_gateway, corpus, corpus_gateways):
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    client = ScoringServerClient(*_host_port(params_gateway))
    client.wait_server_ready(timeout=60)
    assert client.get_version().count(".") == 2
    frame = pd.DataFrame({"x": [1.5, -2.0, 4.25]})
    assert client.invoke(frame).get_predictions().iloc[:, 0].tolist() == [1.5, -2.0, 4.25]
    doubled = client.invoke(frame, params={"factor": 2.0}).get_predictions().iloc[:, 0].tolist()
    assert doubled == [3.0, -4.0, 8.5]
    with pytest.raises(Exception, match=r"error code 400.*factor"):
        client.invoke(frame, params={"factor": "not a number"})

    import mlflow.pyfunc

    pipeline = _entry(corpus, "pipeline")
    client = ScoringServerClient(*_host_port(corpus_gateways[pipeline.name]))
    client.wait_server_ready(timeout=60)
    rows = pd.DataFrame({"city": ["oslo", "rome", "paris"], "area": [55.5, 120.0, 80.25], "age": [3, 40, 99]})
    expected = mlflow.pyfunc.load_model(f"models:/{pipeline.name}/{pipeline.version}").predict(rows)
    got = client.invoke(rows).get_predictions()
    assert got.iloc[:, 0].tolist() == expected.tolist()
    with pytest.raises(Exception, match=r"error code 400.*age"):
        client.invoke(rows.assign(age=[1.5, 2.0, 3.0]))  # a float in a long column: pyfunc refuses it


def test_triton_client_health_and_metadata(corpus, corpus_gateways):
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    entry = _entry(corpus, "pipeline")
    host, port = _host_port(corpus_gateways[entry.name])
    client = triton.InferenceServerClient(url=f"{host}:{port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        server = client.get_server_metadata()
        assert server["name"] and "binary_tensor_data" in server["extensions"]
        assert client.is_model_ready(entry.name) and client.is_model_ready(entry.name, entry.version)
        assert not client.is_model_ready(entry.name, "999")
        metadata = client.get_model_metadata(entry.name)
        assert metadata["versions"] == [entry.version]
        assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {
            "city": "BYTES",
            "area": "FP64",
            "age": "INT64",
        }
        assert client.get_model_metadata(entry.name, entry.version)["name"] == entry.name
        with pytest.raises(InferenceServerException, match="not served here") as error:
            client.get_model_metadata("nope")
        assert error.value.status() == "404"
    finally:
        client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_triton_client_infers_with_named_inputs_and_requested_outputs(binary, corpus, corpus_gateways):
    import mlflow.pyfunc
    import tritonclient.http as triton

    entry = _entry(corpus, "pipeline")
    host, port = _host_port(corpus_gateways[entry.name])
    columns = {
        "city": np.array(["oslo", "berlin", "paris", "rome"], dtype=object),
        "area": np.array([40.5, 150.0, 99.9, 20.0]),
        "age": np.array([1, 50, 80, 7], dtype=np.int64),
    }
    inputs = []
    for name, values in columns.items():
        tensor = triton.InferInput(
            name, [len(values)], {"O": "BYTES", "f": "FP64", "i": "INT64"}[values.dtype.kind]
        )
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("predictions", binary_data=binary)]
    client = triton.InferenceServerClient(url=f"{host}:{port}")
    try:
        result = client.infer(entry.name, inputs, outputs=outputs, request_id=f"req-{binary}")
        versioned = client.infer(entry.name, inputs, model_version=entry.version)
    finally:
        client.close()
    expected = mlflow.pyfunc.load_model(f"models:/{entry.name}/{entry.version}").predict(
        pd.DataFrame(columns)
    )
    assert result.get_response()["id"] == f"req-{binary}"
    assert result.as_numpy("predictions").tolist() == expected.tolist()
    assert versioned.as_numpy("predictions").tolist() == expected.tolist()
    assert versioned.get_response()["model_version"] == entry.version


def test_triton_client_sends_images_as_one_binary_tensor(corpus, corpus_gateways):
    import mlflow.pyfunc
    import tritonclient.http as triton
    from sklearn.datasets import load_digits
    from tritonclient.utils import InferenceServerException

    entry = _entry(corpus, "digits")
    host, port = _host_port(corpus_gateways[entry.name])
    images = load_digits().data[:16].astype(np.float64)
    tensor = triton.InferInput("images", list(images.shape), "FP64")
    tensor.set_data_from_numpy(images)
    client = triton.InferenceServerClient(url=f"{host}:{port}")
    try:
        result = client.infer(entry.name, [tensor])
        wrong = triton.InferInput("images", [16, 8], "FP64")
        wrong.set_data_from_numpy(images[:, :8].copy())
        with pytest.raises(InferenceServerException, match=r"\[rows, 64\]") as error:
            client.infer(entry.name, [wrong])
        assert error.value.status() == "400"
    finally:
        client.close()
    frame = pd.DataFrame(images, columns=[c.name for c in entry.columns])
    expected = mlflow.pyfunc.load_model(f"models:/{entry.name}/{entry.version}").predict(frame)
    assert result.as_numpy("predictions").tolist() == expected.tolist()
