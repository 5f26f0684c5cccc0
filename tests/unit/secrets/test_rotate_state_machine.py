"""The rotation as a state machine (hypothesis stateful): rotate, resume, finalize, Argo CD syncs,
Reloader restarts and kill -9 at any IAM call or progress line, in any order.

In-process parts: IAM is an in-memory fake (two-key limit, last use), the cluster is a model (the
Secret's key id, the key each consumer's pods hold) behind the ``ConsumerCheck`` interface; the target
file is a real SealedSecret sealed and unsealed with a real key. A kill raises ``Killed``, a
``BaseException`` the rotation does not catch, so no rollback handler runs, as after SIGKILL.
Invariants: a key some pod holds is never inactive or deleted; there is always an active key; the
deactivated phase is reached only with every consumer on the new key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
import yaml
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ops.rotate import rotation as rotation_module
from ops.rotate.aws import AccessKey, NewKey
from ops.rotate.consumers import SecretConsumers
from ops.rotate.errors import RotateError, StepFailed
from ops.rotate.rotation import Options, Rotation
from ops.rotate.state import CREATED, DEACTIVATED, StateStore
from ops.seal import keygen
from ops.seal.manifest import dump, new_sealed_secret, seal_into, unseal
from ops.seal.scheme import Scope

USER = "mlops-dev-mlflow"
CONSUMERS = ("deployment/mlflow", "deployment/serving")
KEY, CERT = keygen.generate(bits=2048)


class Killed(BaseException):
    """kill -9: nothing after it runs in the killed process."""


class Fuse:
    """Counts the calls the rotation makes; raises Killed at the armed one."""

    def __init__(self) -> None:
        self.left: int | None = None

    def tick(self) -> None:
        if self.left is not None:
            self.left -= 1
            if self.left < 0:
                self.left = None
                raise Killed


class FakeIam:
    """IAM for one user: at most two keys, statuses, last use."""

    region = "us-east-1"

    def __init__(self, fuse: Fuse) -> None:
        self.fuse, self.ids = fuse, itertools.count(1)
        self.keys: dict[str, str] = {"AKIAOLD0": "Active"}
        self.used: dict[str, dt.datetime] = {}

    def user_arn(self) -> str:
        self.fuse.tick()
        return f"arn:aws:iam::123456789012:user/{USER}"

    def access_keys(self) -> list[AccessKey]:
        self.fuse.tick()
        return [AccessKey(k, s) for k, s in self.keys.items()]

    def create(self) -> NewKey:
        self.fuse.tick()
        assert len(self.keys) < 2, "AWS allows two keys"
        key_id = f"AKIANEW{next(self.ids)}"
        self.keys[key_id] = "Active"
        self.fuse.tick()  # a kill after CreateAccessKey answered, before the tool saw the answer
        return NewKey(key_id, f"secret-of-{key_id}")

    def set_status(self, key_id: str, status: str) -> None:
        self.fuse.tick()
        self.keys[key_id] = status

    def delete(self, key_id: str) -> None:
        self.fuse.tick()
        del self.keys[key_id]

    def last_used(self, key_id: str) -> tuple[dt.datetime | None, str]:
        self.fuse.tick()
        return (self.used[key_id], "s3") if key_id in self.used else (None, "N/A")


class ClusterModel:
    """The Secret the file becomes and the key each consumer's pods read when they started."""

    def __init__(self) -> None:
        self.secret_key = "AKIAOLD0"
        self.pods = dict.fromkeys(CONSUMERS, "AKIAOLD0")

    def pending(self, secret: SecretConsumers, new_key_id: str) -> list[str]:
        if self.secret_key != new_key_id:
            return [f"{secret.describe()} carries {self.secret_key}"]
        return [f"{c} not restarted" for c in secret.consumers if self.pods[c] != new_key_id]


def _verified(*_args: object, **_kwargs: object) -> None:
    """STS accepts every new key of the fake IAM."""


class RotationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        (self.tmp / "repo/certs").mkdir(parents=True)
        (self.tmp / "repo/certs/dev.pem").write_bytes(keygen.cert_pem(CERT))
        doc = new_sealed_secret("mlops-dev", "mlflow-aws", Scope.STRICT)
        seal_into(doc, CERT.public_key(), {"AWS_ACCESS_KEY_ID": b"AKIAOLD0", "AWS_SECRET_ACCESS_KEY": b"s0"})
        (self.tmp / "repo/mlflow-aws.yaml").write_text(dump(doc))
        target = {"file": "mlflow-aws.yaml", "cert": "certs/dev.pem", "consumers": list(CONSUMERS)}
        (self.tmp / "targets.yaml").write_text(yaml.safe_dump({"users": {USER: [target]}}))
        self.fuse, self.cluster = Fuse(), ClusterModel()
        self.iam = FakeIam(self.fuse)
        self.store = StateStore(self.tmp / "state")
        self.saved_verify = rotation_module.verify_key
        rotation_module.verify_key = _verified

    def teardown(self) -> None:
        rotation_module.verify_key = self.saved_verify
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _tool(self, grace_hours: float) -> Rotation:
        opts = Options(
            USER, self.tmp / "repo", self.tmp / "targets.yaml", grace=dt.timedelta(hours=grace_hours)
        )

        def out(_line: str) -> None:
            self.fuse.tick()

        return Rotation(opts, self.iam, self.store, self.cluster, out=out)  # type: ignore[arg-type]

    def _run(self, action: str, kill_at: int | None, grace_hours: float) -> None:
        self.fuse.left = kill_at
        tool = self._tool(grace_hours)
        with contextlib.suppress(Killed, RotateError, StepFailed):
            getattr(tool, action)()
        self.fuse.left = None

    def _file_key(self) -> str:
        doc = yaml.safe_load((self.tmp / "repo/mlflow-aws.yaml").read_text())
        return unseal(doc, [KEY])["AWS_ACCESS_KEY_ID"].decode()

    @rule(kill_at=st.none() | st.integers(0, 12), grace=st.sampled_from([0.0, 24.0]))
    def rotate(self, kill_at: int | None, grace: float) -> None:
        self._run("rotate", kill_at, grace)

    @rule(kill_at=st.none() | st.integers(0, 12), grace=st.sampled_from([0.0, 24.0]))
    def resume(self, kill_at: int | None, grace: float) -> None:
        self._run("resume", kill_at, grace)

    @rule(kill_at=st.none() | st.integers(0, 6))
    def finalize(self, kill_at: int | None) -> None:
        self._run("finalize", kill_at, 24.0)

    @precondition(lambda self: (s := self.store.load(USER)) is None or s.phase != CREATED)
    @rule()
    def argo_cd_syncs_the_file(self) -> None:
        """The operator merges once the tool reports the sealed phase; the controller unseals."""
        self.cluster.secret_key = self._file_key()

    @rule(consumer=st.sampled_from(CONSUMERS))
    def reloader_restarts(self, consumer: str) -> None:
        key = self.cluster.secret_key
        self.cluster.pods[consumer] = key
        if self.iam.keys.get(key) == "Active":
            self.iam.used[key] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    @rule()
    def the_operator_completes_the_rotation(self) -> None:
        """Liveness: from any saved phase, sync + restarts + --resume end with one working key."""
        if self.store.load(USER) is None:
            return
        for _ in range(3):
            if self.store.load(USER) is None:
                break
            if self.store.load(USER).phase != CREATED:  # type: ignore[union-attr]
                self.argo_cd_syncs_the_file()
            for consumer in CONSUMERS:
                self.reloader_restarts(consumer)
            self._run("resume", None, 0.0)
        assert self.store.load(USER) is None, "the rotation did not finish"
        assert self.iam.keys == {self._file_key(): "Active"}

    @invariant()
    def every_key_a_pod_holds_is_active(self) -> None:
        for consumer, key in self.cluster.pods.items():
            assert self.iam.keys.get(key) == "Active", f"{consumer} runs on {key}, which is not active"

    @invariant()
    def the_secret_key_is_active_and_keys_stay_within_the_limit(self) -> None:
        assert self.iam.keys.get(self.cluster.secret_key) == "Active"
        assert 1 <= len(self.iam.keys) <= 2

    @invariant()
    def deactivated_only_with_every_consumer_on_the_new_key(self) -> None:
        state = self.store.load(USER)
        if state is not None and state.phase == DEACTIVATED:
            assert set(self.cluster.pods.values()) == {state.new_key_id} == {self.cluster.secret_key}

    @invariant()
    def the_file_carries_an_active_key_outside_the_created_phase(self) -> None:
        state = self.store.load(USER)
        if state is None or state.phase != CREATED:
            assert self.iam.keys.get(self._file_key()) == "Active"


RotationMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestRotationStateMachine = pytest.mark.filterwarnings("ignore")(RotationMachine.TestCase)


def test_a_rotation_saved_without_consumers_takes_them_from_the_targets() -> None:
    """A rotation saved by a version before the consumer check is still gated on its consumers."""
    machine = RotationMachine()
    try:
        machine.rotate(None, 24.0)
        state = machine.store.load(USER)
        assert state is not None and state.phase == "sealed"
        state.secrets = []
        machine.store.save(state)
        machine.argo_cd_syncs_the_file()
        machine.reloader_restarts(CONSUMERS[0])
        machine.resume(None, 24.0)
        state = machine.store.load(USER)
        assert state is not None and state.phase == "sealed" and state.secrets
        assert state.secrets[0]["consumers"] == list(CONSUMERS)
        machine.reloader_restarts(CONSUMERS[1])
        machine.resume(None, 24.0)
        assert machine.store.load(USER).phase == DEACTIVATED  # type: ignore[union-attr]
    finally:
        machine.teardown()
