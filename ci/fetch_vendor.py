"""Fetch the pinned upstream files (ci/vendor.lock: the CRDs, the official Airflow chart) into the
git-ignored cache .cache/vendor/ when the shared copy (../shared/vendor) is not beside the clone.

    python -m ci.fetch_vendor [--dest DIR] [--pins FILE] [--force]

`make install` runs it. Each file is sha256-checked before anything lands in DEST; a component is
replaced whole (a temporary folder renamed into place), so DEST never holds a partial or unchecked
copy. Exit 0: every component is there (shared, cached or fetched); 1: a checksum did not match;
2: a component is missing and could not be downloaded (one line says which and how to get it).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ci.validate.settings import REPO, vendor_folders

PINS = REPO / "ci" / "vendor.lock"
STAMP = ".pins"
# Which setting points the validators at a folder of their own instead (ci/validate/settings.py).
SETTING = {"crds": "CRD_DIR", "airflow-chart": "AIRFLOW_CHART_DIR"}


class FetchError(Exception):
    """A download failed (exit 2) or a checksum did not match (exit 1)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Pin:
    """One pinned file: the component it belongs to, its path there, where it comes from, its sha256."""

    component: str
    path: str
    url: str
    sha256: str


def read_pins(path: Path) -> dict[str, list[Pin]]:
    """The pins of ci/vendor.lock by component (lines: component path url sha256; # comments)."""
    pins: dict[str, list[Pin]] = defaultdict(list)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 4 or len(words[3]) != 64:
            raise FetchError(f"{path}:{number}: expected 'component path url sha256', got {line!r}", 1)
        pins[words[0]].append(Pin(*words))
    return dict(pins)


def stamp(pins: list[Pin]) -> str:
    """What a complete copy of the component records: the pins it was made from."""
    return "".join(f"{pin.path} {pin.sha256}\n" for pin in pins)


def download(pin: Pin, timeout: float = 60.0) -> bytes:
    """The file's bytes after the sha256 check."""
    try:
        with urllib.request.urlopen(pin.url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise FetchError(f"could not download {pin.url} ({reason})", 2) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != pin.sha256:
        raise FetchError(
            f"checksum mismatch for {pin.url}: sha256 {digest}, pinned {pin.sha256} (nothing was written)", 1
        )
    return data


def unpack_chart(data: bytes, target: Path) -> None:
    """A Helm chart tarball (one top folder) unpacked into target, without the top folder."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = []
        for member in tar.getmembers():
            _top, _, rest = member.name.partition("/")
            if not rest or not (member.isfile() or member.isdir()):
                continue
            member.name = rest
            members.append(member)
        tar.extractall(target, members=members, filter="data")


def fetch(component: str, pins: list[Pin], dest: Path) -> Path:
    """Download and check every file of the component, then move the complete copy to dest/component."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{component}-") as tmp:
        staging = Path(tmp) / component
        staging.mkdir()
        for pin in pins:
            data = download(pin)
            if pin.path.endswith(".tgz"):
                unpack_chart(data, staging)
            else:
                (staging / pin.path).parent.mkdir(parents=True, exist_ok=True)
                (staging / pin.path).write_bytes(data)
        (staging / STAMP).write_text(stamp(pins), encoding="utf-8")
        target = dest / component
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def ensure(component: str, pins: list[Pin], dest: Path, repo: Path = REPO, force: bool = False) -> str:
    """Make the component available; a line that says where it is."""
    shared = vendor_folders(repo)[0] / component
    if shared.is_dir() and not force:
        return f"{component}: the shared copy {shared}"
    cached = dest / component
    if (
        not force
        and (cached / STAMP).is_file()
        and (cached / STAMP).read_text(encoding="utf-8") == stamp(pins)
    ):
        return f"{component}: {cached} (cached)"
    try:
        fetch(component, pins, dest)
    except FetchError as error:
        if error.code == 2:
            error.args = (
                f"{component} is missing: {shared} does not exist and {error}; put the shared copy there, "
                f"set {SETTING.get(component, 'its setting')} to a copy, or run `make install` with network",
            )
        raise
    return f"{component}: fetched {len(pins)} pinned file(s) into {cached}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.fetch_vendor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=vendor_folders()[1], help="the cache folder")
    parser.add_argument("--pins", type=Path, default=PINS, help="the pins file (default ci/vendor.lock)")
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    parser.add_argument("--force", action="store_true", help="download even where a copy exists")
    args = parser.parse_args(argv)
    try:
        for component, pins in read_pins(args.pins).items():
            print(f"fetch-vendor: {ensure(component, pins, args.dest, args.repo, args.force)}")
    except FetchError as error:
        print(f"fetch-vendor: {error}", file=sys.stderr)
        return error.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
