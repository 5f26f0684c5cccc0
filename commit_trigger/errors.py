"""Errors the commit trigger reports as one line and an exit code."""


class TriggerInputError(Exception):
    """Bad input: an unknown commit, an invalid rules file, a config the rules name but the commit lacks
    (exit 2)."""
