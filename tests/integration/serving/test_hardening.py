"""Bad input against a running gateway: limits while bytes arrive, malformed tensors, JSON errors only."""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import socket
import subprocess
import threading

import pytest

from tests.integration.serving.corpus import Entry

MIB = 1024 * 1024

# The first test here may set up the session's corpus: nine models and two gateways on a busy machine.
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


IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
# what an error answer must never show a caller without the admin key
LEAKS = ("Traceback", 'File "', "site-packages", "/tmp/", "/work/", "mlruns", "models:/", "file:", "://")


def _iris_body() -> dict:
    return {"inputs": {name: [1.5] for name in IRIS}}


def _raw(gateway, request: bytes, trickle: bytes = b"", every: float = 0.0, wait: float = 60.0):
    """Send `request`, then `trickle` a byte every `every` seconds until the gateway answers or closes.

    Returns (the answer's bytes, whether the gateway closed the connection, bytes trickled)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    answer, closed, sent = b"", False, 0
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        for byte in trickle:
            sock.settimeout(every)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = None
            if data is not None:
                answer += data
                closed = data == b""
                break
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
        sock.settimeout(wait)
        with contextlib.suppress(ConnectionResetError):
            while not closed:
                data = sock.recv(65536)
                closed = data == b""
                answer += data
    return answer, closed, sent


def _post(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_trickling_in_is_cut_off_while_other_requests_are_answered(corpus, corpus_gateways):
    """Slow loris: one byte a second. Before: read for ever (no deadline), the connection held open.
    The event loop stays free meanwhile, and the answer is a 408 that closes the connection."""
    _, gateway = _gateway(corpus, corpus_gateways)
    body = b'{"inputs": {"a": [1.0]}}' * 20
    results: dict[str, tuple[bytes, bool, int]] = {}
    slow = threading.Thread(
        target=lambda: results.update(
            slow=_raw(gateway, _post("/v1/models/eq-logreg/predict", len(body)), body, 1.0)
        )
    )
    slow.start()
    answered = 0
    try:
        while slow.is_alive():  # until the trickling request is cut off: a request every half second
            answer = gateway.client.post("/v1/models/eq-logreg/predict", json=_iris_body())
            assert answer.status_code == 200, answer.text
            answered += 1
            slow.join(timeout=0.5)
    finally:
        slow.join(timeout=120)
    assert answered > 1, "no request was answered while the body trickled in"
    answer, closed, sent = results["slow"]
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"REQUEST_TIMEOUT"' in answer and closed
    assert sent < len(body), f"the whole body ({sent} bytes) arrived: no deadline"


def test_a_content_length_the_body_never_reaches_is_408_and_one_past_the_limit_closes(
    corpus, corpus_gateways
):
    """A lying Content-Length. Before: 1000 declared, 2 sent: the request hung; 20 MiB declared: 413,
    but the connection stayed open waiting for the rest."""
    _, gateway = _gateway(corpus, corpus_gateways, "pipeline")
    answer, closed, _ = _raw(gateway, _post("/invocations", 1000) + b"{}")
    assert answer.startswith(b"HTTP/1.1 408") and closed, answer[:200]
    answer, closed, _ = _raw(gateway, _post("/v2/models/eq-text/infer", 20 * MIB) + b"{}", wait=5)
    assert answer.startswith(b"HTTP/1.1 413") and b'{"error":' in answer and closed, answer[:300]


def _curl(*args: str) -> tuple[int, str, str]:
    """(status, headers, body) of a plain curl call."""
    curl = shutil.which("curl")
    assert curl, "curl is needed (apt-get install curl)"
    run = subprocess.run([curl, "-sS", "-D", "-", *args], capture_output=True, text=True, timeout=60)
    head, _, body = run.stdout.partition("\n\n")  # text mode: CRLF reads as LF
    while head.split()[1] == "100":  # curl's Expect: 100-continue for larger bodies
        head, _, body = body.partition("\n\n")
    return int(head.split()[1]), head.lower(), body


def test_curl_users_get_json_errors_that_leak_nothing(corpus, corpus_gateways, tmp_path):
    """curl as people type it: the default form content type, HEAD/GET on POST routes, gzip bodies,
    deep JSON, wrong types; every error is JSON in the protocol's shape, with no path, URI or trace."""
    _, gateway = _gateway(corpus, corpus_gateways)
    url = gateway.url
    gz = tmp_path / "body.gz"
    gz.write_bytes(gzip.compress(json.dumps(_iris_body()).encode()))
    deep = tmp_path / "deep.json"
    deep.write_text('{"inputs": ' + "[" * 5000 + "]" * 5000 + "}")
    json_type = "Content-Type: application/json"
    status, _, body = _curl(
        f"{url}/v1/models/eq-logreg/predict",
        "-H",
        json_type,
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        f"@{gz}",
    )
    assert status == 200 and json.loads(body)["predictions"], body
    integral = json.dumps({"inputs": {name: [5] for name in IRIS}})  # what JSON.stringify(5.0) sends
    status, _, body = _curl(f"{url}/invocations", "-H", json_type, "-d", integral)
    assert status == 200 and "predictions" in json.loads(body), body
    cases = [
        (("-d", json.dumps(_iris_body()), f"{url}/invocations"), 415, "error_code"),  # curl's form type
        (("-X", "GET", f"{url}/v1/models/eq-logreg/predict"), 405, "error_code"),
        (("-X", "GET", f"{url}/v2/models/eq-logreg/infer"), 405, "error"),
        (("-H", json_type, "--data-binary", f"@{deep}", f"{url}/invocations"), 400, "error_code"),
        (
            ("-H", json_type, "-d", '{"inputs": {"sepal length (cm)": ["5.1"]}}', f"{url}/invocations"),
            400,
            "error_code",
        ),
        (
            ("-H", json_type, "-d", '{"dataframe_records": [{"petal width (cm)": 1}]}', f"{url}/invocations"),
            400,
            "error_code",
        ),
        (
            ("-H", json_type, "-d", '{"inputs": {"sepal length (cm)": [null]}}', f"{url}/invocations"),
            400,
            "error_code",
        ),
        (("-H", json_type, "-d", '{"inputs": []}', f"{url}/v2/models/eq-logreg/infer"), 400, "error"),
        (("-H", json_type, "-d", '{"inputs": []}', f"{url}/v2/models/nope/infer"), 404, "error"),
        (("-H", json_type, "-d", "{}", f"{url}/v1/models/nope/predict"), 404, "error_code"),
        (("-H", "Content-Encoding: gzip", "-d", "not gzip", f"{url}/invocations"), 400, "error_code"),
        (("-X", "PUT", "-H", json_type, "-d", "{}", f"{url}/v1/models/eq-logreg/traffic"), 401, "error_code"),
    ]
    for args, expected, key in cases:
        status, head, body = _curl(*args)
        assert status == expected, (args, status, body)
        assert "content-type: application/json" in head and key in json.loads(body), (args, body)
        assert not [leak for leak in LEAKS if leak in body], (args, body)
    status, head, body = _curl("-I", f"{url}/invocations")
    assert status == 405 and "allow: post" in head
