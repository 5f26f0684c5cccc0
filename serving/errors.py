"""Typed errors of the gateway and the HTTP status each one maps to (one map, one place).

`message` goes to every caller, so it never holds a URI, a file path or an exception's text; `detail`
(optional) holds those for the log and for callers with the admin key.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class: `status` is the HTTP status code, `message` is safe to show to anyone."""

    status = 500

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.served_by: list[tuple[str, str]] = []  # variant and version headers, once a variant answered


class BadInput(ServingError):
    """The request body does not fit the protocol or the model's signature (400, as MLflow answers)."""

    status = 400


class BadRequest(ServingError):
    """The request is malformed in a way unrelated to the model inputs."""

    status = 400


class Invalid(ServingError):
    """An admin request is well-formed but its values are not acceptable (e.g. weights not summing to 100)."""

    status = 422


class Unauthorized(ServingError):
    """Missing or wrong `X-API-Key`."""

    status = 401


class NotFound(ServingError):
    """Unknown model, variant, version or alias."""

    status = 404


class Conflict(ServingError):
    """The action does not fit the current state (e.g. nothing to roll back)."""

    status = 409


class RequestTimeout(ServingError):
    """The body did not arrive in time (a client trickling bytes holds a connection no longer)."""

    status = 408


class PayloadTooLarge(ServingError):
    """The body exceeds the configured limit."""

    status = 413


class UnsupportedMediaType(ServingError):
    """A content type or charset the protocol does not take."""

    status = 415


class Unavailable(ServingError):
    """A dependency (MLflow, a model) is not there; the caller may retry."""

    status = 503


class ModelFailed(ServingError):
    """The model raised while predicting."""

    status = 500
