"""Errors the commit trigger reports as one line and an exit code."""


class TriggerInputError(Exception):
    """Bad input: an unknown commit, an invalid rules file, a config the rules name but the commit lacks
    (exit 2)."""


class DagCodeNotReady(Exception):
    """Airflow has not parsed the commit's DAG code (or a later commit's) within the time given (exit 4)."""
