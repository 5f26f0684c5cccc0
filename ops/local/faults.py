"""A deliberately broken model version for the demo's failure path: a pyfunc model that raises on every
input, so the gateway's warm-up on its own input example fails and the reload is refused.

Run: python -m ops.local.faults TRACKING_URI MODEL_NAME (prints the new version number last)."""

import sys

IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def register_unscorable(tracking_uri: str, name: str, experiment: str = "demo-faults") -> str:
    """Log and register, outside Airflow, a version of `name` that loads but cannot score anything (like
    a model trained against another schema); returns its version number."""
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.pyfunc import PythonModel
    from mlflow.types import ColSpec, Schema

    class UnscorableModel(PythonModel):
        # No type hints on predict: MLflow would read them as a second, conflicting schema.
        def predict(self, context, model_input, params=None):
            raise RuntimeError("this model version cannot score its own input example")

    example = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=IRIS_COLUMNS)
    inputs = Schema([ColSpec("double", c) for c in IRIS_COLUMNS])
    signature = ModelSignature(inputs, Schema([ColSpec("long")]))
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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m ops.local.faults TRACKING_URI MODEL_NAME")
    print(register_unscorable(sys.argv[1], sys.argv[2]))
