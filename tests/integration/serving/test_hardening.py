"""Bad input against a running gateway: limits while bytes arrive, malformed tensors, JSON errors only."""

from __future__ import annotations

import contextlib
import socket

import pytest

from tests.integration.serving.corpus import Entry

MIB = 1024 * 1024

# The first test here may set up the session's corpus: ten models and ten gateways on a busy machine.
pytestmark = pytest.mark.timeout(1800)


def _gateway(corpus: list[Entry], corpus_gateways: dict, short: str = "logreg"):
    entry = next(e for e in corpus if e.name == f"eq-{short}")
    return entry, corpus_gateways[entry.name]


def test_a_chunked_20_mib_put_to_an_admin_route_gets_413_before_it_is_read(corpus, corpus_gateways):
    """Before: only Content-Length was checked, so the whole chunked body was read, then 401."""
    _, gateway = _gateway(corpus, corpus_gateways)
    host, port = gateway.url.removeprefix("http://").split(":")
    sent = 0
    answer = b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"PUT /v1/models/eq-logreg/traffic HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * (64 * 1024)
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            while sent < 20 * MIB:
                sock.sendall(framed)
                sent += len(chunk)
                sock.settimeout(0.0)
                with contextlib.suppress(BlockingIOError):
                    answer += sock.recv(65536)
                sock.settimeout(30)
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"PAYLOAD_TOO_LARGE"' in answer or b"limit" in answer
    assert sent < 8 * MIB, f"the gateway read {sent} bytes before answering"


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        (
            [
                {"name": "sepal length (cm)", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
                {"name": "sepal width (cm)", "shape": [1], "datatype": "FP64", "data": [1.0]},
            ],
            "same number of rows",
        ),
        ([{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1.0] * 7}], "needs 8 values"),
        ([{"name": "x", "shape": [1, 4], "datatype": "FP99", "data": [1.0] * 4}], "unknown datatype"),
        ([{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ["a", "b", "c", "d"]}], "float values"),
        ([{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1.5, 2, 3, 4]}], "int values"),
        ([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}], "[rows, 4]"),
        ([{"name": "x", "shape": [-1, 4], "datatype": "FP64", "data": [1.0] * 4}], "non-negative"),
        ([{"name": "x", "shape": [1, 4], "datatype": "FP64"}], "needs 'data'"),
        ([{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [[1.0, 2.0], [3.0]]}], "equal-length"),
    ],
)
def test_malformed_v2_tensors_are_400_with_the_reason(inputs, reason, corpus, corpus_gateways):
    """Before: per-column tensors of different lengths gave a 500 with an empty body."""
    _, gateway = _gateway(corpus, corpus_gateways)
    answer = gateway.client.post("/v2/models/eq-logreg/infer", json={"inputs": inputs})
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error"} and reason in answer.json()["error"]


def test_binary_tensor_sizes_are_checked(corpus, corpus_gateways):
    _, gateway = _gateway(corpus, corpus_gateways)
    header = (
        b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", '
        b'"parameters": {"binary_data_size": 32}}]}'
    )
    for tail, reason in ((b"\0" * 16, "exceeds"), (b"\0" * 40, "belong to no input")):
        answer = gateway.client.post(
            "/v2/models/eq-logreg/infer",
            content=header + tail,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )
        assert answer.status_code == 400 and reason in answer.json()["error"], answer.text


def test_every_error_is_json(corpus, corpus_gateways):
    _, gateway = _gateway(corpus, corpus_gateways)
    client = gateway.client
    for answer, status in (
        (client.get("/invocations"), 405),
        (client.get("/no/such/route"), 404),
        (client.post("/invocations", content=b"a,b", headers={"Content-Type": "text/plain"}), 415),
        (client.post("/invocations", content=b"\xff\xfe", headers={"Content-Type": "text/csv"}), 400),
        (client.post("/v2/models/eq-logreg/versions/999/infer", json={"inputs": []}), 400),
        (client.post("/v2/models/eq-logreg/versions/999/ready"), 405),
    ):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json") and answer.json()
        assert answer.headers["x-request-id"]
