"""Typed errors of the control API and the HTTP status each maps to (one map, one place)."""


class ControlError(Exception):
    """Base class: `status` is the HTTP status, the message goes to the client as is."""

    status = 500
    code = "internal"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(ControlError):
    status = 400
    code = "bad_request"


class Unauthorized(ControlError):
    status = 401
    code = "unauthorized"


class Forbidden(ControlError):
    status = 403
    code = "forbidden"


class NotFound(ControlError):
    status = 404
    code = "not_found"


class Conflict(ControlError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ControlError):
    status = 413
    code = "payload_too_large"


class Invalid(ControlError):
    status = 422
    code = "invalid"


class Unavailable(ControlError):
    """A dependency (Airflow, MLflow, the gateway) did not answer; the caller may retry."""

    status = 503
    code = "unavailable"


ERROR_CODES = {cls.status: cls.code for cls in ControlError.__subclasses__()} | {
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
    500: "internal",
}


def error_body(status: int, message: str, field: str | None = None) -> dict[str, object]:
    """The JSON of every error answer."""
    body: dict[str, object] = {
        "error": ERROR_CODES.get(status, "error"),
        "status": status,
        "message": message,
    }
    if field:
        body["field"] = field
    return body
