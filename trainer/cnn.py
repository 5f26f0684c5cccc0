"""Digits CNN trained with PyTorch on CUDA, exported as an equivalent scikit-learn MLP.

The network uses only convolutions, ReLU and a dense head. A convolution is a linear map, so each conv
layer unrolls into a dense weight matrix: the trained CNN becomes an MLPClassifier with exactly the same
outputs, and serving loads it with plain scikit-learn (no PyTorch in the serving image).
"""

from typing import Any

import numpy as np
import pandas as pd
from loguru import logger
from sklearn.neural_network import MLPClassifier

from trainer.config import TrainConfig

PIXEL_SCALE = 16.0  # digits pixels are 0..16


def _network(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def _unrolled(torch: Any, conv: Any, in_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Dense (n_in, n_out) weights and bias equivalent to `conv` on inputs of `in_shape`."""
    n_in = int(np.prod(in_shape))
    with torch.no_grad():
        basis = torch.eye(n_in, device=conv.weight.device).view(n_in, *in_shape)
        weights = torch.nn.functional.conv2d(basis, conv.weight, None, conv.stride, conv.padding)
        out_shape = weights.shape[1:]
        bias = conv.bias.view(-1, 1, 1).expand(*out_shape).reshape(-1)
    return weights.reshape(n_in, -1).cpu().numpy(), bias.cpu().numpy()


def export_to_mlp(torch: Any, net: Any, classes: np.ndarray, feature_names: list[str]) -> MLPClassifier:
    """An MLPClassifier computing the same logits as the trained CNN (input scaling folded in)."""
    conv1, conv2, head = net[1], net[3], net[6]
    w1, b1 = _unrolled(torch, conv1, (1, 8, 8))
    w2, b2 = _unrolled(torch, conv2, (16, 8, 8))
    w3 = head.weight.detach().cpu().numpy().T
    b3 = head.bias.detach().cpu().numpy()
    mlp = MLPClassifier(hidden_layer_sizes=(w1.shape[1], w2.shape[1]), activation="relu")
    # One partial_fit builds every fitted attribute; then the weights are replaced by the CNN's.
    seed_rows = pd.DataFrame(np.zeros((len(classes), w1.shape[0])), columns=feature_names)
    mlp.partial_fit(seed_rows, classes, classes=classes)
    mlp.coefs_ = [w1 / PIXEL_SCALE, w2, w3]
    mlp.intercepts_ = [b1, b2, b3]
    return mlp


def train_digits_cnn(
    config: TrainConfig,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame,
    device_name: str = "cuda",
) -> tuple[MLPClassifier, np.ndarray]:
    """Train the CNN (on CUDA in the trainer); return the exported MLP and its predictions on x_test."""
    import torch

    torch.manual_seed(config.seed)
    device = torch.device(device_name)
    epochs = int(config.hyperparameters.get("epochs", 15) or 15)
    lr = float(config.hyperparameters.get("learning_rate", 0.003) or 0.003)
    net = _network(torch).to(device)
    inputs = torch.tensor(x_train.to_numpy() / PIXEL_SCALE, dtype=torch.float32, device=device)
    targets = torch.tensor(y_train, dtype=torch.long, device=device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator(device=device).manual_seed(config.seed)
    for epoch in range(epochs):
        order = torch.randperm(len(inputs), device=device, generator=generator)
        for start in range(0, len(inputs), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = loss_fn(net(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
        logger.info(f"cnn epoch {epoch + 1}/{epochs} loss {loss.item():.4f} on {device}")
    net.eval()
    mlp = export_to_mlp(torch, net, np.unique(y_train), list(x_train.columns))
    return mlp, mlp.predict(x_test)
