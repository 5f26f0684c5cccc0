"""Errors of the rotation tool."""


class RotateError(Exception):
    """A precondition the operator must fix (exit 2); nothing was changed."""


class StepFailed(Exception):
    """A rotation step failed after changes began (exit 1); the message says what state remains."""
