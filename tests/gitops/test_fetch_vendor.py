"""`make install` on a clone without ../shared/vendor: python -m ci.fetch_vendor downloads the pinned CRDs
and the official Airflow chart (sha256-checked) into the cache, from a local HTTP server here (this
machine reaches no GitHub or apache.org); a wrong checksum writes nothing; no network: one line."""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ci import fetch_vendor
from ci.validate.settings import REPO, Settings, vendored
from tests.support.ports import free_port


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on a free port, and its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chart_tarball(chart: Path) -> bytes:
    """The chart as `helm package` ships it: a gzipped tar with one top folder, airflow/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(chart, arcname="airflow")
    return buffer.getvalue()


def _source(component: str) -> Path:
    folder = vendored(component)
    if folder is None:
        pytest.fail(f"no {component} to serve: run `make install` (python -m ci.fetch_vendor)")
    return folder


def _serve_the_pins(root: Path, base_url: str, tmp_path: Path, corrupt: str | None = None) -> Path:
    """Serve every pinned CRD (as vendored) and a tarball of the vendored chart; a pins file for them
    (the real paths and CRD checksums; the tarball's own checksum). `corrupt`: that path is served
    with one byte changed."""
    crds, chart = _source("crds"), _source("airflow-chart")
    lines = []
    for component, pins in fetch_vendor.read_pins(fetch_vendor.PINS).items():
        for pin in pins:
            if component == "crds":
                data = (crds / pin.path).read_bytes()
                sha = pin.sha256
                assert _sha256(data) == sha, f"{pin.path}: the vendored copy differs from ci/vendor.lock"
            else:
                data = _chart_tarball(chart)
                sha = _sha256(data)
            if pin.path == corrupt:
                data = data[:-1] + bytes([data[-1] ^ 1])
            served_file = root / component / pin.path
            served_file.parent.mkdir(parents=True, exist_ok=True)
            served_file.write_bytes(data)
            lines.append(f"{component} {pin.path} {base_url}/{component}/{pin.path} {sha}")
    pins_file = tmp_path / "vendor.lock"
    pins_file.write_text("# served locally\n" + "\n".join(lines) + "\n")
    return pins_file


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """python -m ci.fetch_vendor as make install runs it, on a repo with no shared copy beside it."""
    return subprocess.run(
        [sys.executable, "-m", "ci.fetch_vendor", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_pins_cover_every_vendored_crd() -> None:
    pinned = {pin.path for pin in fetch_vendor.read_pins(fetch_vendor.PINS)["crds"]}
    crds = _source("crds")
    assert pinned == {str(p.relative_to(crds)) for p in crds.rglob("*.yaml")}


def test_fetch_fills_the_cache_that_the_validators_use(served, tmp_path: Path) -> None:
    root, base_url = served
    pins = _serve_the_pins(root, base_url, tmp_path)
    clone = tmp_path / "parent" / "clone"  # no ../shared beside it
    clone.mkdir(parents=True)
    dest = clone / ".cache" / "vendor"
    done = _run("--pins", str(pins), "--dest", str(dest), "--repo", str(clone))
    assert done.returncode == 0, done.stderr
    assert "crds: fetched 20 pinned file(s)" in done.stdout and "airflow-chart: fetched" in done.stdout
    crds = _source("crds")
    for pin in fetch_vendor.read_pins(fetch_vendor.PINS)["crds"]:
        assert (dest / "crds" / pin.path).read_bytes() == (crds / pin.path).read_bytes()
    chart = _source("airflow-chart")
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", "templates/_helpers.yaml"):
        assert (dest / "airflow-chart" / name).read_bytes() == (chart / name).read_bytes()

    settings = Settings.from_env(repo=clone)
    assert (settings.crd_dir, settings.airflow_chart_dir) == (dest / "crds", dest / "airflow-chart")

    again = _run("--pins", str(pins), "--dest", str(dest), "--repo", str(clone))
    assert again.returncode == 0 and again.stdout.count("(cached)") == 2, again.stdout + again.stderr


def test_a_wrong_checksum_writes_nothing(served, tmp_path: Path) -> None:
    root, base_url = served
    pins = _serve_the_pins(root, base_url, tmp_path, corrupt="metallb.io/ipaddresspool.yaml")
    clone = tmp_path / "clone"
    clone.mkdir()
    dest = clone / ".cache" / "vendor"
    done = _run("--pins", str(pins), "--dest", str(dest), "--repo", str(clone))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "checksum mismatch for" in done.stderr, done.stderr
    assert "metallb.io/ipaddresspool.yaml" in done.stderr and "Traceback" not in done.stderr
    assert not (dest / "crds").exists() and not [p for p in dest.iterdir() if p.name.startswith(".crds")]


def test_no_network_and_no_shared_copy_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: as without network
    pins = tmp_path / "vendor.lock"
    pins.write_text(
        f"crds argoproj.io/application.yaml http://127.0.0.1:{port}/application.yaml {'0' * 64}\n"
    )
    clone = tmp_path / "clone"
    clone.mkdir()
    done = _run("--pins", str(pins), "--dest", str(clone / ".cache" / "vendor"), "--repo", str(clone))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr
    assert line.startswith("fetch-vendor: crds is missing:") and "shared/vendor/crds does not exist" in line
    assert "set CRD_DIR" in line and "make install" in line


def test_the_shared_copy_is_used_as_it_is(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (tmp_path / "shared" / "vendor" / "crds").mkdir(parents=True)
    clone.mkdir()
    pins = tmp_path / "vendor.lock"
    pins.write_text(f"crds a.yaml http://127.0.0.1:9/a.yaml {'0' * 64}\n")
    done = _run("--pins", str(pins), "--dest", str(clone / ".cache" / "vendor"), "--repo", str(clone))
    assert done.returncode == 0 and "the shared copy" in done.stdout, done.stderr
    assert not (clone / ".cache").exists()
