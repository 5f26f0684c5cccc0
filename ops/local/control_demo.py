"""The last step of `make demo`: a backend's view. One training job through the control API (as a
product backend would start it), its Server-Sent Events printed as they stream, and its signed
callback, received by the local sink (`.stack/callbacks.jsonl`), verified with the signing secret.
Run alone against a running stack: python -m ops.local.control_demo"""

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from control.signing import SIGNATURE_HEADER, SignatureError, verify
from ops.local.stack import Stack, StackSettings
from ops.local.stack.settings import REPO_ROOT

Say = Callable[[str], None]


def event_line(event_id: str, kind: str, data: dict[str, Any]) -> str:
    """One printed line per event."""
    if kind == "training_job.task":
        what = f"{data['task_id']} → {data['state']}"
    elif kind.startswith("training_job."):
        job = data["job"]
        what = f"job {job['state']}"
        if job.get("registered_version"):
            what += f", v{job['registered_version']} on alias {job['alias']}"
        if job.get("error"):
            what += f": {job['error']}"
    elif kind.startswith("callback."):
        what = f"→ {data['url']} ({data.get('status')}, {data.get('duration_ms')} ms)"
    else:
        what = json.dumps(data)[:120]
    return f"    #{event_id:<5} {kind:<26} {what}"


def stream_events(url: str, key: str, say: Say, timeout: float = 1800.0) -> None:
    """Print a job's events until its stream ends (finished, callbacks settled); resume on a broken
    connection with Last-Event-ID."""
    last: str | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        headers = {"X-API-Key": key, **({"Last-Event-ID": last} if last else {})}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=60) as response:
                response.raise_for_status()
                block: dict[str, str] = {}
                for line in response.iter_lines():
                    if line == "":
                        if "data" in block:
                            last = block["id"]
                            say(event_line(block["id"], block["event"], json.loads(block["data"])["data"]))
                        block = {}
                    elif not line.startswith(":") and ":" in line:
                        name, _, value = line.partition(":")
                        block[name] = value.removeprefix(" ")
                return
        except httpx.HTTPError as error:
            say(f"    (stream interrupted: {type(error).__name__}; resuming after event {last})")
            time.sleep(2)


def received_callback(stack: Stack, job_id: str) -> dict[str, Any] | None:
    """The sink's record of this job's callback, if it arrived."""
    path = stack.settings.callbacks_log
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if json.loads(entry["body"]).get("job", {}).get("id") == job_id:
            return entry
    return None


def run(stack: Stack, say: Say = print) -> bool:
    """Start one job, print its events as they stream, check its callback; True when all went well."""
    settings = stack.settings
    values = stack.written_values()
    base, key = settings.control_url, values["CONTROL_API_KEY"]
    config = json.loads((REPO_ROOT / "trainer" / "configs" / "iris.json").read_text())
    config["hyperparameters"] = {**config.get("hyperparameters", {}), "C": 0.7}
    body = {
        "config": config,
        "alias": "challenger",
        "strategy": "canary",
        "callback_url": settings.callback_url,
    }
    say("==> a backend's view: one training job through the control API, its events as they stream")
    say(f"    POST {base}/v1/training-jobs  (callback to {settings.callback_url})")
    response = httpx.post(
        f"{base}/v1/training-jobs",
        json=body,
        headers={"X-API-Key": key, "Idempotency-Key": f"make-demo-{time.strftime('%Y%m%dT%H%M%S')}"},
        timeout=30,
    )
    if response.status_code != 202:
        say(f"    refused: {response.status_code} {response.text[:300]}")
        return False
    job = response.json()
    say(f"    202 Accepted: job {job['id']}  (Airflow: {job['airflow']['ui_url']})")
    stream_events(f"{base}{job['links']['events']}", key, say)
    job = httpx.get(f"{base}{job['links']['self']}", headers={"X-API-Key": key}, timeout=30).json()
    say(f"    => job {job['state']}" + (f": {job['error']}" if job["error"] else ""))
    callback = received_callback(stack, job["id"])
    if callback is None:
        say("    no callback arrived at the local sink")
        return False
    try:
        verify(
            values["CALLBACK_SIGNING_SECRET"].encode(),
            callback["headers"].get(SIGNATURE_HEADER),
            callback["body"].encode(),
        )
    except SignatureError as error:
        say(f"    callback signature refused: {error}")
        return False
    payload = json.loads(callback["body"])
    say(
        f"    callback: event {payload['event_id']} {payload['type']} at {callback['path']}, "
        f"signature verified (HMAC-SHA256, {SIGNATURE_HEADER}); recorded in {settings.callbacks_log}"
    )
    say(
        f"control API: {base} (OpenAPI at {base}/docs); e.g. "
        f'curl -s {base}/v1/training-jobs -H "X-API-Key: $CONTROL_API_KEY" after source {stack.env_file}'
    )
    return job["state"] == "succeeded"


def main() -> int:
    stack = Stack(StackSettings())
    return 0 if run(stack) else 1


if __name__ == "__main__":
    sys.exit(main())
