"""Errors the stack CLI reports as one line with a non-zero exit code."""


class StackError(Exception):
    """A service could not be started, stopped or reached; the message says which and where to look."""
