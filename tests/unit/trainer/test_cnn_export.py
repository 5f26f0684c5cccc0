"""The digits CNN exports to a scikit-learn MLP with the same outputs (runs where PyTorch is installed)."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from trainer.config import parse_config
from trainer.datasets import load_dataset

torch = pytest.importorskip("torch", reason="PyTorch is only in the optional trainer-gpu extra")


def test_exported_mlp_matches_the_network() -> None:
    from trainer.cnn import PIXEL_SCALE, _network, export_to_mlp

    torch.manual_seed(0)
    net = _network(torch)
    data = load_dataset("digits")
    rows = data.features.head(64)
    mlp = export_to_mlp(torch, net, np.unique(data.target), list(rows.columns))
    with torch.no_grad():
        logits = net(torch.tensor(rows.to_numpy() / PIXEL_SCALE, dtype=torch.float32)).numpy()
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mlp.predict_proba(rows), expected, atol=1e-5)
    assert (mlp.predict(rows) == logits.argmax(axis=1)).all()


def test_cnn_trains_to_useful_accuracy_on_cpu() -> None:
    from trainer.cnn import train_digits_cnn

    config = parse_config(
        {
            "model_name": "digits",
            "task": "image_classification",
            "dataset": "digits",
            "algorithm": "cnn",
            "hyperparameters": {"epochs": 5},
            "experiment": "digits",
        }
    )
    data = load_dataset("digits")
    x_train, x_test, y_train, y_test = train_test_split(data.features, data.target, random_state=0)
    _, predictions = train_digits_cnn(config, x_train, y_train, x_test, device_name="cpu")
    assert (predictions == y_test).mean() > 0.9
