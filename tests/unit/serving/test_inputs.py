"""Decoding of the MLflow scoring formats and Open Inference Protocol tensors into numeric matrices."""

from __future__ import annotations

import numpy as np
import pytest

from serving import inputs
from serving.errors import BadInput

COLUMNS = ("a", "b", "c")
EXPECTED = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3], [4, 5, 6]]}},
        {"dataframe_split": {"columns": ["c", "a", "b"], "data": [[3, 1, 2], [6, 4, 5]]}},
        {"dataframe_split": {"data": [[1, 2, 3], [4, 5, 6]]}},
        {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"c": 6, "b": 5, "a": 4}]},
        {"instances": [[1, 2, 3], [4, 5, 6]]},
        {"instances": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]},
        {"inputs": {"a": [1, 4], "b": [2, 5], "c": [3, 6]}},
        {"inputs": [[1, 2, 3], [4, 5, 6]]},
    ],
)
def test_every_scoring_format_gives_the_same_matrix(body):
    key, value = inputs.scoring_payload(body)
    matrix = inputs.numeric_matrix(key, value, COLUMNS)
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, EXPECTED)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "JSON object"),
        ({"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}, "exactly one"),
        ({"instances": [[1, 2]]}, "3 values each"),
        ({"instances": [["x", 2, 3]]}, "numbers"),
        ({"instances": []}, "non-empty"),
        ({"dataframe_records": [{"a": 1, "b": 2}]}, "missing column 'c'"),
        ({"dataframe_split": {"columns": ["a", "b", "d"], "data": [[1, 2, 3]]}}, "missing column 'c'"),
        ({"dataframe_split": [[1, 2, 3]]}, "'data'"),
        ({"inputs": {"a": [1], "b": [2]}}, "missing column 'c'"),
    ],
)
def test_bad_inputs_say_what_is_wrong(body, message):
    with pytest.raises(BadInput, match=message):
        key, value = inputs.scoring_payload(body)
        inputs.numeric_matrix(key, value, COLUMNS)


def test_v2_tensors_one_matrix_or_one_per_column():
    matrix = [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]
    np.testing.assert_array_equal(inputs.v2_matrix(inputs.v2_tensors({"inputs": matrix}), COLUMNS), EXPECTED)
    columns = [
        {"name": name, "shape": [2], "datatype": "INT64", "data": list(EXPECTED[:, i])}
        for i, name in enumerate(COLUMNS)
    ]
    np.testing.assert_array_equal(inputs.v2_matrix(inputs.v2_tensors({"inputs": columns}), COLUMNS), EXPECTED)
    with pytest.raises(BadInput, match="datatype"):
        inputs.v2_tensors({"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]})
    with pytest.raises(BadInput, match="missing input tensor 'c'"):
        inputs.v2_matrix(inputs.v2_tensors({"inputs": columns[:2]}), COLUMNS)
    with pytest.raises(BadInput, match="input 'x'"):
        bad = [{"name": "x", "shape": [4, 3], "datatype": "FP64", "data": [1, 2, 3]}]
        inputs.v2_matrix(inputs.v2_tensors({"inputs": bad}), COLUMNS)
