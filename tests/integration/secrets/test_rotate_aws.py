"""``ops/rotate/rotate-aws-credentials.sh`` against moto in server mode (real IAM/STS HTTP endpoints).

The test plays the sealed-secrets controller (it holds the dev/prod private keys and unseals the files)
and a workload (it calls S3 with what it unsealed), so every phase runs as in a cluster; the cluster the
consumer check reads (Secret, Deployment, pods) is a JSON file answered by ``tests/support/fake_kubectl.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from ops.seal import keygen
from ops.seal.manifest import dump, new_sealed_secret, seal_into, unseal
from ops.seal.scheme import Scope
from tests.support.fake_kubectl import FakeCluster

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "ops" / "rotate" / "rotate-aws-credentials.sh"
REGION = "us-east-1"
CONSUMERS = ("mlflow", "serving")


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """dev and prod controllers: (private key, certificate)."""
    return {env: keygen.generate(bits=2048) for env in ("dev", "prod")}


def _admin_env(moto_url: str, state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        MLOPS_ROTATE_STATE_DIR=str(state_dir),
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="admin-testing",
        AWS_SECRET_ACCESS_KEY="admin-testing",
        AWS_DEFAULT_REGION=REGION,
    )
    return env


def _iam(moto_url: str):
    return boto3.client(
        "iam", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="a", aws_secret_access_key="a"
    )


def _identity(moto_url: str, key_id: str, secret: str) -> str:
    sts = boto3.client(
        "sts",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    return sts.get_caller_identity()["Arn"]


class Setup:
    """An IAM user with one key, and a git repo whose dev/prod SealedSecrets carry that key."""

    def __init__(self, tmp: Path, moto_url: str, clusters: dict, user: str) -> None:
        self.moto_url, self.clusters, self.user = moto_url, clusters, user
        iam = _iam(moto_url)
        self.arn = iam.create_user(UserName=user)["User"]["Arn"]
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.old_id, self.old_secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.repo = tmp / "repo"
        # Outside the repository, as the tool's default (~/.local/state/...) is.
        self.state_dir = tmp / "rotate-state"
        targets = []
        for env, (_key, cert) in clusters.items():
            (self.repo / "certs").mkdir(parents=True, exist_ok=True)
            (self.repo / f"certs/{env}.pem").write_bytes(keygen.cert_pem(cert))
            doc = new_sealed_secret(f"mlops-{env}", "aws-credentials", Scope.STRICT)
            values = {
                "AWS_ACCESS_KEY_ID": self.old_id.encode(),
                "AWS_SECRET_ACCESS_KEY": self.old_secret.encode(),
                "MLFLOW_S3_ENDPOINT_URL": f"https://s3.{env}.example".encode(),
            }
            seal_into(doc, cert.public_key(), values)
            (self.repo / f"apps/{env}").mkdir(parents=True, exist_ok=True)
            (self.repo / f"apps/{env}/aws.yaml").write_text("# AWS credentials of MLflow\n" + dump(doc))
            targets.append(
                {
                    "file": f"apps/{env}/aws.yaml",
                    "cert": f"certs/{env}.pem",
                    "context": env,
                    "consumers": [f"deployment/{name}" for name in CONSUMERS],
                }
            )
        (self.repo / "targets.yaml").write_text(yaml.safe_dump({"users": {user: targets}}))
        for cmd in (
            ["init", "-q"],
            ["add", "-A"],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
        ):
            subprocess.run(["git", "-C", str(self.repo), *cmd], check=True)
        self.outputs: list[str] = []
        self.cluster = FakeCluster(tmp / "cluster.json")
        self.kubectl = self.cluster.kubectl(tmp)
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
        for env in clusters:
            self.cluster.put_secret(env, f"mlops-{env}", "aws-credentials", self.old_id, long_ago)
            for name in CONSUMERS:
                self.cluster.put_deployment(env, f"mlops-{env}", name, long_ago + dt.timedelta(minutes=1))

    def sync(self, env: str, key_id: str, restart: tuple[str, ...] = CONSUMERS) -> None:
        """Argo CD synced the file, the controller unsealed it, Reloader restarted ``restart``."""
        changed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
        self.cluster.put_secret(env, f"mlops-{env}", "aws-credentials", key_id, changed)
        for name in restart:
            self.cluster.put_deployment(env, f"mlops-{env}", name, changed + dt.timedelta(seconds=5))

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["bash", str(SCRIPT), "--user", self.user, "--root", str(self.repo)]
        argv += ["--targets", str(self.repo / "targets.yaml"), "--verify-timeout", "5"]
        argv += ["--kubectl", str(self.kubectl), *args]
        proc = subprocess.run(
            argv,
            env=env or _admin_env(self.moto_url, self.state_dir),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def keys(self) -> dict[str, str]:
        meta = _iam(self.moto_url).list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in meta}

    def unsealed(self, env: str, text: str | None = None) -> dict[str, bytes]:
        doc = yaml.safe_load(text if text is not None else (self.repo / f"apps/{env}/aws.yaml").read_text())
        return unseal(doc, [self.clusters[env][0]])

    def workload_uses(self, env: str) -> tuple[str, str]:
        """The pod: unseal like the controller, then call S3 with those credentials."""
        values = self.unsealed(env)
        key_id, secret = values["AWS_ACCESS_KEY_ID"].decode(), values["AWS_SECRET_ACCESS_KEY"].decode()
        s3 = boto3.client(
            "s3",
            endpoint_url=self.moto_url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        s3.list_buckets()
        return key_id, secret

    def assert_no_secret_printed(self, *secrets: str) -> None:
        for secret in (self.old_secret, *secrets):
            assert all(secret not in out for out in self.outputs), "a secret access key was printed"

    def snapshot(self) -> dict[str, bytes]:
        return {env: (self.repo / f"apps/{env}/aws.yaml").read_bytes() for env in ("dev", "prod")}


def test_full_rotation_then_finalize_deletes_only_the_old_key(
    tmp_path: Path, moto_url: str, clusters
) -> None:
    s = Setup(tmp_path, moto_url, clusters, "rotate-full")
    dry = s.run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert s.keys() == {s.old_id: "Active"} and "nothing was changed" in dry.stdout

    first = s.run()
    assert first.returncode == 0, first.stderr
    assert "waiting" in first.stdout, "must not deactivate before the new key is used"
    keys = s.keys()
    assert len(keys) == 2 and set(keys.values()) == {"Active"}
    for env in ("dev", "prod"):
        values = s.unsealed(env)
        assert values["AWS_ACCESS_KEY_ID"].decode() != s.old_id
        assert values["MLFLOW_S3_ENDPOINT_URL"] == f"https://s3.{env}.example".encode()
        assert (s.repo / f"apps/{env}/aws.yaml").read_text().startswith("# AWS credentials of MLflow")
    new_id, new_secret = s.workload_uses("prod")
    assert new_id in keys and s.unsealed("dev")["AWS_ACCESS_KEY_ID"].decode() == new_id

    for env in ("dev", "prod"):
        s.sync(env, new_id)
    resumed = s.run("--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert s.keys() == {s.old_id: "Inactive", new_id: "Active"}
    within_grace = s.run("--resume")
    assert within_grace.returncode == 0 and s.keys() == {s.old_id: "Inactive", new_id: "Active"}

    final = s.run("--finalize")
    assert final.returncode == 0, final.stderr
    assert s.keys() == {new_id: "Active"}
    assert _identity(moto_url, new_id, new_secret) == s.arn
    assert s.run("--resume").returncode == 2, "nothing left to resume"
    s.assert_no_secret_printed(new_secret)


def test_two_keys_are_refused_and_nothing_changes(tmp_path: Path, moto_url: str, clusters) -> None:
    s = Setup(tmp_path, moto_url, clusters, "rotate-two-keys")
    _iam(moto_url).create_access_key(UserName=s.user)
    before_keys, before_files = s.keys(), s.snapshot()
    proc = s.run()
    assert proc.returncode == 2
    assert "already has two access keys" in proc.stderr and proc.stderr.count("\n") == 1
    assert s.keys() == before_keys and s.snapshot() == before_files
    s.assert_no_secret_printed()


def test_sts_failure_after_create_rolls_back_and_keeps_the_old_key(
    tmp_path: Path, moto_url: str, clusters
) -> None:
    s = Setup(tmp_path, moto_url, clusters, "rotate-sts-down")
    before = s.snapshot()
    env = _admin_env(moto_url, s.state_dir)
    env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:9"  # discard port: STS unreachable for the new key
    proc = s.run(env=env)
    assert proc.returncode == 1
    assert "rolled back" in proc.stderr and "rerun" in proc.stderr
    assert s.keys() == {s.old_id: "Active"}
    assert s.snapshot() == before
    assert _identity(moto_url, s.old_id, s.old_secret) == s.arn
    assert not (s.state_dir / f"{s.user}.json").exists()
    retry = s.run("--deactivate-now")
    assert retry.returncode == 0, retry.stderr
    assert set(s.keys().values()) == {"Active"}, "no consumer restarted yet: the old key stays active"
    (new_id,) = set(s.keys()) - {s.old_id}
    for env in ("dev", "prod"):
        s.sync(env, new_id)
    deactivated = s.run("--resume", "--deactivate-now")
    assert deactivated.returncode == 0, deactivated.stderr
    assert s.keys() == {s.old_id: "Inactive", new_id: "Active"}
    s.assert_no_secret_printed()


def test_crash_between_seal_and_deactivate_leaves_working_keys_and_resumes(
    tmp_path: Path, moto_url: str, clusters
) -> None:
    s = Setup(tmp_path, moto_url, clusters, "rotate-crash")
    argv = [
        "bash",
        str(SCRIPT),
        "--user",
        s.user,
        "--root",
        str(s.repo),
        "--targets",
        str(s.repo / "targets.yaml"),
    ]
    proc = subprocess.Popen(
        [*argv, "--wait-for-use", "600"],
        env=_admin_env(moto_url, s.state_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    state = s.state_dir / f"{s.user}.json"
    deadline = time.monotonic() + 120
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.exists(), "rotation never reached the sealed phase"
    os.killpg(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    s.outputs.append(out + err)

    keys = s.keys()
    assert set(keys.values()) == {"Active"} and len(keys) == 2
    assert _identity(moto_url, s.old_id, s.old_secret) == s.arn
    new_id, new_secret = s.workload_uses("dev")
    assert _identity(moto_url, new_id, new_secret) == s.arn

    again = s.run()
    assert again.returncode == 2 and "in progress" in again.stderr
    early = s.run("--finalize")
    assert early.returncode == 2 and s.keys() == keys, "finalize must not delete an active old key"
    for env in ("dev", "prod"):
        s.sync(env, new_id)
    resumed = s.run("--resume", "--deactivate-now", "--grace-hours", "0")
    assert resumed.returncode == 0, resumed.stderr
    assert s.keys() == {new_id: "Active"}
    s.assert_no_secret_printed(new_secret)


def test_commit_branch_leaves_the_checkout_alone(tmp_path: Path, moto_url: str, clusters) -> None:
    s = Setup(tmp_path, moto_url, clusters, "rotate-branch")
    head = subprocess.run(
        ["git", "-C", str(s.repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    before = s.snapshot()
    proc = s.run("--commit-branch", "rotate/aws")
    assert proc.returncode == 0, proc.stderr
    assert "branch rotate/aws" in proc.stdout
    assert s.snapshot() == before
    assert (
        subprocess.run(["git", "-C", str(s.repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        == head
    )
    status = subprocess.run(
        ["git", "-C", str(s.repo), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout.strip() == "", status.stdout  # progress lives outside the checkout
    for env in ("dev", "prod"):
        show = subprocess.run(
            ["git", "-C", str(s.repo), "show", f"rotate/aws:apps/{env}/aws.yaml"],
            capture_output=True,
            text=True,
        )
        values = s.unsealed(env, show.stdout)
        assert (
            values["AWS_ACCESS_KEY_ID"].decode() in set(s.keys())
            and values["AWS_ACCESS_KEY_ID"].decode() != s.old_id
        )
    s.assert_no_secret_printed()


def test_finalize_without_saved_state_deletes_only_the_single_inactive_key(
    tmp_path: Path, moto_url: str, clusters
) -> None:
    s = Setup(tmp_path, moto_url, clusters, "rotate-leftover")
    iam = _iam(moto_url)
    leftover = iam.create_access_key(UserName=s.user)["AccessKey"]["AccessKeyId"]
    both_active = s.run("--finalize")
    assert both_active.returncode == 2 and s.keys() == {s.old_id: "Active", leftover: "Active"}
    iam.update_access_key(UserName=s.user, AccessKeyId=leftover, Status="Inactive")
    status = s.run("--status")
    assert (
        status.returncode == 0
        and f"{leftover} Inactive" in status.stdout
        and "none in progress" in status.stdout
    )
    done = s.run("--finalize")
    assert done.returncode == 0, done.stderr
    assert s.keys() == {s.old_id: "Active"}
    s.assert_no_secret_printed()


def test_a_use_of_the_new_key_does_not_deactivate_while_a_consumer_still_runs_the_old_one(
    tmp_path: Path, moto_url: str, clusters
) -> None:
    """Issue 13: the old key was deactivated as soon as any use of the new one was seen."""
    s = Setup(tmp_path, moto_url, clusters, "rotate-consumers")
    assert s.run().returncode == 0
    new_id, new_secret = s.workload_uses("prod")  # IAM now reports the new key used (by S3)
    s.sync("prod", new_id)
    s.sync("dev", new_id, restart=("mlflow",))  # Reloader has not restarted dev's gateway yet

    waiting = s.run("--resume")
    assert waiting.returncode == 0, waiting.stderr
    assert set(s.keys().values()) == {"Active"}, "deactivated while dev's gateway still holds the old key"
    assert "deployment/serving" in waiting.stdout and "mlops-dev/aws-credentials" in waiting.stdout
    assert _identity(moto_url, s.old_id, s.old_secret) == s.arn

    s.sync("dev", new_id)
    done = s.run("--resume")
    assert done.returncode == 0, done.stderr
    assert s.keys() == {s.old_id: "Inactive", new_id: "Active"}
    s.assert_no_secret_printed(new_secret)


def test_kill_before_sealing_is_rolled_back_by_resume(tmp_path: Path, moto_url: str, clusters) -> None:
    """A kill -9 after CreateAccessKey but before the sealed phase: --resume deletes the new key and
    restores the files; the old key stays the only, working one."""
    s = Setup(tmp_path, moto_url, clusters, "rotate-kill-created")
    before = s.snapshot()
    env = _admin_env(moto_url, s.state_dir)
    env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:9"  # verification retries: time to kill in 'created'
    argv = ["bash", str(SCRIPT), "--user", s.user, "--root", str(s.repo)]
    argv += ["--targets", str(s.repo / "targets.yaml"), "--verify-timeout", "600"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while len(s.keys()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(s.keys()) == 2, "the new key was never created"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert s.run().returncode == 2, "a second rotation must not start over a half-done one"
    resumed = s.run("--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "rolled back" in resumed.stdout
    assert s.keys() == {s.old_id: "Active"} and s.snapshot() == before
    assert _identity(moto_url, s.old_id, s.old_secret) == s.arn
    assert s.run("--dry-run").returncode == 0, "a new rotation may start"
