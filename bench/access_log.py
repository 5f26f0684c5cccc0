"""`python -m bench.access_log`: what the access line costs a predict request, as a ratio in one run.

The gateway's predict path (`serving.predict.serve`, the code both the fast path and FastAPI call) on an
iris model taking the numpy fast path, in process (no HTTP, so the ratio is the worst case: a real request
adds the network and the ASGI server on top of both), with `SERVING_ACCESS_LOG` on and off in interleaved
rounds, the JSON sink of `serving.logs` writing to stdout (run with `> /dev/null` or a pipe). Prints the
median microseconds per request of each and their ratio on stderr.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from serving import logs
from serving.config import parse_config
from serving.gateway import Gateway
from serving.model import build_model
from serving.predict import serve
from serving.settings import Settings

ROUNDS, REQUESTS = 7, 2000
BODY = orjson.dumps(
    {
        "dataframe_split": {
            "columns": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
            "data": [[5.1, 3.5, 1.4, 0.2]],
        }
    }
)
HEADERS = {"content-type": "application/json", "x-request-id": "bench-1"}


def _model(folder: Path):
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    frame = load_iris(as_frame=True)
    estimator = LogisticRegression(max_iter=500).fit(frame.data, frame.target)
    example = frame.data.head(2)
    path = folder / "model"
    signature = infer_signature(example, estimator.predict(example))
    mlflow.sklearn.save_model(estimator, path, signature=signature, input_example=example)
    return build_model("iris", "1", str(path), time.perf_counter())


async def _round(gateway: Gateway) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS):
        status, _, _ = await serve(gateway, "v1", "iris", BODY, HEADERS)
        assert status == 200
    return (time.perf_counter() - started) / REQUESTS * 1e6


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")  # no mlflow.db in the cwd
        config = parse_config(
            {
                "models": [
                    {
                        "name": "iris",
                        "registered_model": "iris",
                        "strategy": "single",
                        "variants": [{"name": "main", "alias": "champion", "weight": 100}],
                    }
                ]
            }
        )
        settings = Settings(config="unused", state_url=f"sqlite:///{tmp}/state.db", replica_id="bench")
        gateway = Gateway(settings, config)
        model = _model(Path(tmp))
        assert model.fast_path
        gateway.model("iris").variants["main"].swap(model)
        logs.setup("INFO", None, "bench")
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(ROUNDS):
            for on in (True, False):
                gateway.settings = settings.model_copy(update={"access_log": on})
                times[on].append(await _round(gateway))
        with_line, without = statistics.median(times[True]), statistics.median(times[False])
        print(
            f"predict in process: {without:.1f} us without the access line, {with_line:.1f} us with it "
            f"(ratio {with_line / without:.2f}; {ROUNDS} rounds of {REQUESTS})",
            file=sys.stderr,
        )


if __name__ == "__main__":
    asyncio.run(main())
