"""A deliberately broken model version for the demo's failure path: a pyfunc model that raises on every
input, so the gateway's warm-up on its own input example fails and the reload is refused."""

from typing import Any

from mlflow.pyfunc import PythonModel

IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


class UnscorableModel(PythonModel):
    """Loads, but cannot score anything (like a model trained against another schema)."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        raise RuntimeError("this model version cannot score its own input example")


def register_unscorable(tracking_uri: str, name: str, experiment: str = "demo-faults") -> str:
    """Log and register an UnscorableModel version of `name` (outside Airflow); its version number."""
    import sys

    import cloudpickle
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    example = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=IRIS_COLUMNS)
    signature = ModelSignature(
        Schema([ColSpec("double", c) for c in IRIS_COLUMNS]), Schema([ColSpec("long")])
    )
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="unscorable"):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=UnscorableModel(),
            signature=signature,
            input_example=example,
            registered_model_name=name,
        )
    return str(info.registered_model_version)
