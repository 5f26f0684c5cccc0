"""KServe's model server as a bench peer (run with the kserve venv's python, not the project's).

A `kserve.Model` that loads the scikit-learn estimator from a joblib file and predicts on the v1
protocol's `instances`, as KServe's own sklearn server does; request and latency logging off.
Usage: python bench/kserve_peer.py MODEL_NAME ESTIMATOR.joblib --http_port N --grpc_port M
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import joblib
import kserve
import numpy as np


class SklearnModel(kserve.Model):
    """One estimator, answering {"instances": [[...], ...]} with {"predictions": [...]}."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.estimator: Any = None
        self.load()

    def load(self) -> bool:
        self.estimator = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> dict[str, Any]:
        instances = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": self.estimator.predict(instances).tolist()}


if __name__ == "__main__":
    name, path = sys.argv[1], sys.argv[2]
    server = kserve.ModelServer(workers=1, enable_grpc=False, enable_latency_logging=False)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("kserve").setLevel(logging.WARNING)
    logging.getLogger("kserve.trace").setLevel(logging.WARNING)
    server.start([SklearnModel(name, path)])
