"""A pyfunc model that passes warm-up on its 2-row input example and fails on every other request."""

import numpy as np
from mlflow.pyfunc import PythonModel


class FaultyModel(PythonModel):
    """Raises on any input that is not exactly two rows (the warm-up example)."""

    def predict(self, context, model_input, params=None):
        if len(model_input) == 2:
            return np.zeros(2, dtype=np.int64)
        raise RuntimeError("faulty model: cannot score this input")
