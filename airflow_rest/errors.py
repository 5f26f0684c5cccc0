"""Errors of the Airflow REST client, each with a message that says what went wrong and where."""


class AirflowAPIError(Exception):
    """Airflow answered with an error (status and Airflow's own `detail`)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirflowUnreachable(AirflowAPIError):
    """No answer from Airflow (connection refused, timeout, DNS)."""


class AirflowAuthError(AirflowAPIError):
    """The user/password were refused by /auth/token, or the user may not do this (401/403)."""
