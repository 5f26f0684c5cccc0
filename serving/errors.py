"""Typed errors of the gateway and the HTTP status each one maps to (one map, one place)."""

from __future__ import annotations


class ServingError(Exception):
    """Base class: `status` is the HTTP status code, the message goes to the client as is."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ServingError):
    """The request body does not fit the model's signature or the scoring protocol."""

    status = 422


class BadRequest(ServingError):
    """The request is malformed in a way unrelated to the model inputs."""

    status = 400


class Unauthorized(ServingError):
    """Missing or wrong `X-API-Key`."""

    status = 401


class NotFound(ServingError):
    """Unknown model, variant or alias."""

    status = 404


class Conflict(ServingError):
    """The action does not fit the current state (e.g. nothing to roll back)."""

    status = 409


class PayloadTooLarge(ServingError):
    """The body exceeds the configured limit."""

    status = 413


class Unavailable(ServingError):
    """A dependency (MLflow, a model) is not there; the caller may retry."""

    status = 503


class ModelFailed(ServingError):
    """The model raised while predicting."""

    status = 500
