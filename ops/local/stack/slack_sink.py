"""A local stand-in for a Slack incoming webhook: appends every accepted message to a JSON-lines file.

It answers like Slack does: 200 `ok` for a JSON object with `text`, `blocks` or `attachments` (what
Alertmanager's slack_configs send), 400 `invalid_payload` for a body that is not JSON, 400 `no_text`
for one with none of them. Each message is recorded as posted, one JSON object a line. `GET /` is its
health check.
With `--callbacks-file`, it is also the local receiver of the control API's callbacks: a POST under
`/callbacks/` is recorded as is (path, the `X-MLOps-*` headers and the raw body, so a reader can verify
the signature) and answered 200.
Run: python -m ops.local.stack.slack_sink --port 8025 --file .stack/slack.jsonl
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

MAX_BODY = 1 << 20


def decode_payload(body: bytes, content_type: str) -> dict | None:
    """The message as a dict: a JSON body, or the `payload` field of a form post (as Slack accepts)."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode("utf-8")).get("payload", [""])[0].encode("utf-8")
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return message if isinstance(message, dict) else None


CALLBACK_PREFIX = "/callbacks/"
MESSAGE_FIELDS = ("text", "blocks", "attachments")


def message_text(message: dict) -> str:
    """What a reader sees of a message: its text, then each attachment's pretext, title and text."""
    parts = [str(message.get("text") or "")]
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict):
            parts.extend(str(attachment.get(key) or "") for key in ("pretext", "title", "text"))
    return "\n".join(part for part in parts if part)


def make_handler(
    file: Path, lock: threading.Lock, callbacks_file: Path | None = None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(200, "ok")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, "payload_too_large")
                return
            body = self.rfile.read(length)
            if callbacks_file is not None and self.path.startswith(CALLBACK_PREFIX):
                self._record_callback(body)
                return
            message = decode_payload(body, self.headers.get("Content-Type", ""))
            if message is None:
                self._answer(400, "invalid_payload")
                return
            if not any(message.get(key) for key in MESSAGE_FIELDS):
                self._answer(400, "no_text")
                return
            with lock, open(file, "a", encoding="utf-8") as out:
                out.write(json.dumps(message, sort_keys=True) + "\n")
            self._answer(200, "ok")

        def _record_callback(self, body: bytes) -> None:
            assert callbacks_file is not None
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith("x-mlops-")}
            entry = {"path": self.path, "headers": headers, "body": body.decode("utf-8", "replace")}
            with lock, open(callbacks_file, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")
            self._answer(200, "ok")

        def log_message(self, format: str, *args) -> None:
            print(f"slack-sink: {self.command} {self.path} {format % args}", flush=True)

    return Handler


def serve(host: str, port: int, file: Path, callbacks_file: Path | None = None) -> ThreadingHTTPServer:
    """A started-but-not-serving server (call serve_forever)."""
    for path in (file, callbacks_file):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return ThreadingHTTPServer((host, port), make_handler(file, threading.Lock(), callbacks_file))


def read_messages(file: Path) -> list[dict]:
    """Every message recorded so far."""
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--callbacks-file", type=Path, help="record POSTs under /callbacks/ here")
    args = parser.parse_args()
    server = serve(args.host, args.port, args.file, args.callbacks_file)
    print(f"slack-sink: listening on {args.host}:{args.port}, recording to {args.file}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
