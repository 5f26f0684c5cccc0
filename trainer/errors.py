"""Typed trainer errors, each mapped to a process exit code by the CLI."""


class TrainerError(Exception):
    """Base class: a failure the CLI reports as one line, without a traceback."""

    exit_code = 1


class ConfigError(TrainerError):
    """The training config or a command-line argument is invalid (fix the input)."""

    exit_code = 2


class TrackingError(TrainerError):
    """MLflow could not be reached or refused a request."""

    exit_code = 3


class RegistrationTimeout(TrainerError):
    """The model version did not become READY in time."""

    exit_code = 4
