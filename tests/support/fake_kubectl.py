"""A stand-in for ``kubectl get ... --output json`` (no API server runs here): answers from a JSON file
that a test writes as its cluster (``FAKE_KUBECTL_STATE``), so the rotation's consumer check runs through
the same subprocess call and JSON parsing as against a cluster.

The file maps ``<context>/<namespace>/<kind>/<name>`` to an object and
``<context>/<namespace>/pods/<selector>`` to a list of pods. ``FakeCluster`` writes it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeCluster:
    """The objects the consumer check reads: Secrets, Deployments and their pods."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.objects: dict[str, Any] = {}
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.objects))

    def kubectl(self, directory: Path) -> Path:
        """An executable ``kubectl`` that answers from this cluster."""
        script = directory / "kubectl"
        script.write_text(
            f"#!/bin/sh\nFAKE_KUBECTL_STATE='{self.path}' exec '{sys.executable}' '{Path(__file__)}' \"$@\"\n"
        )
        script.chmod(0o755)
        return script

    def put_secret(self, context: str, ns: str, name: str, key_id: str, changed: dt.datetime) -> None:
        created = changed - dt.timedelta(days=30)
        self.objects[f"{context}/{ns}/secret/{name}"] = {
            "metadata": {
                "name": name,
                "creationTimestamp": _stamp(created),
                "managedFields": [{"manager": "controller", "time": _stamp(changed)}],
            },
            "data": {"AWS_ACCESS_KEY_ID": base64.b64encode(key_id.encode()).decode()},
        }
        self.save()

    def put_deployment(
        self, context: str, ns: str, name: str, pods_started: dt.datetime, replicas: int = 2, ready: int = 2
    ) -> None:
        self.objects[f"{context}/{ns}/deployment/{name}"] = {
            "metadata": {"name": name, "generation": 3},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
            "status": {"observedGeneration": 3, "updatedReplicas": ready, "readyReplicas": ready},
        }
        pods = [
            {
                "metadata": {"name": f"{name}-{i}", "creationTimestamp": _stamp(pods_started)},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
            for i in range(replicas)
        ]
        self.objects[f"{context}/{ns}/pods/app={name}"] = pods
        self.save()


def main(argv: list[str]) -> int:
    objects = json.loads(Path(os.environ["FAKE_KUBECTL_STATE"]).read_text())
    context = namespace = selector = ""
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--context":
            context = next(args)
        elif arg == "--namespace":
            namespace = next(args)
        elif arg == "--selector":
            selector = next(args)
        elif arg == "--output":
            if next(args) != "json":
                print("error: only --output json", file=sys.stderr)
                return 1
        else:
            rest.append(arg)
    if rest[:1] != ["get"]:
        print(f"error: fake kubectl only answers get, not {rest}", file=sys.stderr)
        return 1
    kind = rest[1]
    if kind == "pods":
        print(json.dumps({"items": objects.get(f"{context}/{namespace}/pods/{selector}", [])}))
        return 0
    key = f"{context}/{namespace}/{kind}/{rest[2]}"
    if key not in objects:
        print(f'Error from server (NotFound): {kind} "{rest[2]}" not found', file=sys.stderr)
        return 1
    print(json.dumps(objects[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
