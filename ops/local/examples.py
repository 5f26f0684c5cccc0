"""One example model per data type (tabular, text, image) served by the local gateway
(`serving/examples/local.yaml`): the requests `make demo` sends, and the training of the text and image
examples with the trainer CLI (the tabular one comes through the DAG runs)."""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ops.local.stack import Stack
from ops.local.stack.settings import REPO_ROOT

# model served, its columns (named, as pyfunc takes them) and one row; the image row is the first of
# scikit-learn's 8x8 digits (pixels 0..16), loaded on demand.
EXAMPLES: dict[str, tuple[str, list[str], list[Any] | None]] = {
    "tabular": (
        "iris",
        ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
        [5.1, 3.5, 1.4, 0.2],
    ),
    "text": ("topics", ["text"], ["the striker scored a late goal in the final match"]),
    "image": ("digits", [f"pixel_{i}" for i in range(64)], None),
}
# registered model → trainer config of the examples trained outside the DAG runs
TRAINED_HERE = {"topics": "text.json", "digits": "digits.json"}


def example_body(kind: str) -> dict[str, Any]:
    """The MLflow `dataframe_split` body of one example type."""
    _, columns, row = EXAMPLES[kind]
    if row is None:
        from sklearn.datasets import load_digits

        row = load_digits().data[0].tolist()
    return {"dataframe_split": {"columns": columns, "data": [row]}}


def _trainer(env: dict[str, str], result: Path, *args: str) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, "-m", "trainer", *args, "--result-file", str(result)],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(result.read_text())


def register_examples(stack: Stack, say: Callable[[str], None]) -> None:
    """Train and register the text and image examples, alias `champion`, reload the gateway."""
    env = {**os.environ, **stack.client_env()}
    headers = {"X-API-Key": stack.api_key()}
    with tempfile.TemporaryDirectory() as folder:
        for model, config in TRAINED_HERE.items():
            result = Path(folder) / f"{model}.json"
            trained = _trainer(
                env, result, "train", "--config", str(REPO_ROOT / "trainer" / "configs" / config)
            )
            registered = _trainer(
                env, result, "register", "--run-id", trained["run_id"], "--name", model, "--alias", "champion"
            )
            answer = httpx.post(
                f"{stack.settings.serving_url}/variant/champion/reload",
                params={"model": model},
                headers=headers,
                timeout=120,
            )
            say(f"    {model}: version {registered['version']} → alias champion, gateway {answer.json()}")


def predict_each_type(gateway: str, say: Callable[[str], None]) -> None:
    """Print one prediction per example type."""
    for kind, (model, _, _) in EXAMPLES.items():
        answer = httpx.post(
            f"{gateway}/v1/models/{model}/predict", json=example_body(kind), timeout=30
        ).json()
        predictions = answer.get("predictions", answer)
        say(f"{kind} prediction ({model}): {predictions} (version {answer.get('version')})")
