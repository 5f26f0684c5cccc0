"""Trainer: turns one JSON training config into an MLflow run and a registered model version."""

__version__ = "0.1.0"
