"""Integers sent to `double` columns: float64 when float64 holds them exactly, else a 400.

A JavaScript client cannot send `5.0` (`JSON.stringify(5.0)` is `"5"`), and `mlflow models serve`
takes integers for `double` columns; pyfunc refuses an int64 column for a `double` column. So before
pyfunc sees the input, every integer column that the signature types `double` becomes float64 when
each value has magnitude at most 2**53 (every such integer is a float64 exactly): the model answers
what pyfunc answers for the float64 input. A larger integer is a 400 naming the column, since float64
would round it; that includes a JSON integer beside floats in one column, which pandas would silently
round (hence `check_json` on the decoded body, before pandas).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from serving.errors import BadInput

EXACT_INT = 2**53


def _refuse(column: str, value: Any) -> BadInput:
    shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:37]}..."
    return BadInput(
        f"column {column!r} is double and the integer {shown} has no exact float64 value "
        f"(integers up to 2**53 in magnitude are taken)"
    )


def _values(key: str, value: Any, doubles: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """(column, JSON value) of the `double` columns in a scoring payload, in any of its formats."""
    if key == "dataframe_split" and isinstance(value, dict):
        names, rows = value.get("columns"), value.get("data")
        if isinstance(names, list) and isinstance(rows, list):
            wanted = [(i, n) for i, n in enumerate(names) if isinstance(n, str) and n in doubles]
            for row in rows:
                if isinstance(row, list):
                    yield from ((n, row[i]) for i, n in wanted if i < len(row))
    elif isinstance(value, list):  # records: dataframe_records, or instances/inputs as a list
        for record in value:
            if isinstance(record, dict):
                yield from ((n, record[n]) for n in doubles.intersection(record))
    elif isinstance(value, dict):  # inputs/instances as {column: values}
        for name in doubles.intersection(value):
            column = value[name]
            yield from ((name, v) for v in (column if isinstance(column, list) else [column]))


def check_json(key: str, value: Any, doubles: frozenset[str]) -> None:
    """BadInput naming the first `double` column that holds a JSON integer beyond 2**53."""
    if not doubles:
        return
    for column, item in _values(key, value, doubles):
        if type(item) is int and not -EXACT_INT <= item <= EXACT_INT:
            raise _refuse(column, item)


def _widened(column: str, array: np.ndarray) -> np.ndarray | None:
    """The float64 copy of an integer array, None if it is not one; BadInput if float64 rounds it."""
    if array.dtype.kind not in "iu":
        return None
    beyond = (array > EXACT_INT) | (array < -EXACT_INT)
    if beyond.any():
        raise _refuse(column, array[beyond].flat[0])
    return array.astype(np.float64)


def widen(data: Any, doubles: frozenset[str]) -> Any:
    """pyfunc's input with the integer `double` columns as float64 (a DataFrame or a dict of arrays)."""
    if not doubles:
        return data
    if isinstance(data, dict):
        out = dict(data)
        for name in doubles.intersection(data):
            widened = _widened(name, np.asarray(data[name]))
            if widened is not None:
                out[name] = widened
        return out
    if hasattr(data, "columns") and hasattr(data, "assign"):
        changes = {}
        for name in data.columns:
            if not isinstance(name, str) or name not in doubles or data[name].ndim != 1:
                continue
            widened = _widened(name, data[name].to_numpy())
            if widened is not None:
                changes[name] = widened
        return data.assign(**changes) if changes else data
    return data
