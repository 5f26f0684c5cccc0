"""pyfunc models that misbehave in one way each, for rollout tests (pickled by value into MLflow)."""

import time

import numpy as np
from mlflow.pyfunc import PythonModel


class SlowLoadModel(PythonModel):
    """Answers at once, but each load takes `seconds` (a big model): widens the window of a reload."""

    seconds = 5.0

    def load_context(self, context):
        time.sleep(self.seconds)

    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input), dtype=np.int64)


class SlowPredictModel(PythonModel):
    """Right answers, slowly: every call takes 200 ms more than it should."""

    def predict(self, context, model_input, params=None):
        time.sleep(0.2)
        return np.zeros(len(model_input), dtype=np.int64)


class OtherColumnsModel(PythonModel):
    """A version whose signature names a column iris requests lack: every iris request is a 400
    (missing column) from it, as pyfunc's schema enforcement refuses it."""

    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input), dtype=np.int64)
