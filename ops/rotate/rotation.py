"""The rotation as phases, each safe to interrupt: a working key always remains and the state file says
where to resume.

rotate:   preflight → [phase created] → create new key → verify with STS → seal into every target
          (files or a branch) → [phase sealed] → deactivate the old key once every consumer of every
          target's Secret runs on the new key (``ConsumerCheck``) and IAM saw the new key used (skipped by
          ``--deactivate-now``) → [phase deactivated] → delete the old key after the grace period
          (``--resume``) or now (``--finalize``).
A failure before the sealed phase deletes the new key again and restores the files (rollback), and so
does ``--resume`` after a kill in the created phase; the old key stays active until the deactivated phase.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ops.rotate import gitbranch
from ops.rotate.aws import AccessKey, Iam, NewKey, verify_key
from ops.rotate.consumers import ConsumerCheck, SecretConsumers
from ops.rotate.errors import RotateError, StepFailed
from ops.rotate.state import CREATED, DEACTIVATED, SEALED, State, StateStore, now
from ops.rotate.targets import Prepared, load_targets, prepare, sealed_text, secret_consumers
from ops.seal.io import load_docs, write_atomic
from ops.seal.manifest import is_sealed_secret

USE_POLL_S = 10.0
STS_SKEW = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class Options:
    """What the operator asked for."""

    user: str
    root: Path
    targets: Path
    dry_run: bool = False
    commit_branch: str | None = None
    deactivate_now: bool = False
    skip_consumer_check: bool = False
    wait_for_use_s: float = 0.0
    grace: dt.timedelta = dt.timedelta(hours=24)
    verify_timeout_s: float = 120.0


class Rotation:
    """One IAM user's rotation, driven by the state store."""

    def __init__(
        self,
        opts: Options,
        iam: Iam,
        store: StateStore,
        consumers: ConsumerCheck,
        out: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.opts, self.iam, self.store, self.out, self.sleep = opts, iam, store, out, sleep
        self.consumers = consumers

    # -- rotate ------------------------------------------------------------------------------------
    def rotate(self) -> None:
        """Start a rotation (refuses when one is in progress or the user already has two keys)."""
        user = self.opts.user
        state = self.store.load(user)
        if state is not None:
            raise RotateError(
                f"a rotation of {user} is in progress (phase {state.phase}, new key {state.new_key_id}): "
                "run --resume to continue or --finalize to delete the old key"
            )
        prepared = prepare(self.opts.root, load_targets(self.opts.targets, user))
        if self.opts.commit_branch:
            gitbranch.check_branch(self.opts.root, self.opts.commit_branch)
        arn = self.iam.user_arn()
        keys = self.iam.access_keys()
        old = self._single_old_key(keys)
        self.out(f"IAM user {user}: old key {old.key_id} ({old.status}); {len(prepared)} target(s):")
        for item in prepared:
            self.out(f"  {item.target.file}  [{item.target.id_key}, {item.target.secret_key}]")
        if self.opts.dry_run:
            self.out("dry run: would create a new key, verify it with STS, seal it into the targets above")
            self.out(
                "and deactivate the old key once every consumer restarted on the new one; nothing was changed"
            )
            return
        state = State(
            user,
            old.key_id,
            "",
            CREATED,
            "",
            sorted(p.target.file for p in prepared),
            self.opts.commit_branch,
            secrets=[asdict(secret_consumers(p)) for p in prepared],
            originals={p.target.file: p.text for p in prepared},
        )
        self.store.save(state)  # before CreateAccessKey: a kill from here on is rolled back by --resume
        try:
            new = self.iam.create()
            state.new_key_id = new.key_id
            self.store.save(state)
            self.out(f"created new key {new.key_id}")
            verify_key(new, arn, self.iam.region, self.opts.verify_timeout_s, self.sleep)
            self.out(f"verified new key {new.key_id} with STS GetCallerIdentity as {arn}")
            state.verified_at = now().isoformat()
            self._write(prepared, new, old)
            state.phase = SEALED
            self.store.save(state)
        except (Exception, KeyboardInterrupt) as exc:  # never leave an unsealed new key behind
            raise StepFailed(self._rollback(state, exc)) from None
        self._advance(state)

    def _single_old_key(self, keys: list[AccessKey]) -> AccessKey:
        user = self.opts.user
        if len(keys) >= 2:
            listed = ", ".join(f"{k.key_id} {k.status}" for k in keys)
            raise RotateError(
                f"IAM user {user} already has two access keys ({listed}) and AWS allows at most two: "
                "finish the previous rotation with --finalize or delete the unused key, then rerun"
            )
        if not keys:
            raise RotateError(f"IAM user {user} has no access key: nothing to rotate")
        if keys[0].status != "Active":
            self.out(f"warning: the only key {keys[0].key_id} is {keys[0].status}; rotating anyway")
        return keys[0]

    def _write(self, prepared: list[Prepared], new: NewKey, old: AccessKey) -> list[str]:
        texts = {item.target.file: sealed_text(item, new) for item in prepared}
        for rel, text in texts.items():  # parse back before anything leaves memory
            docs = [d for d in load_docs(text, rel) if is_sealed_secret(d)]
            item = next(p for p in prepared if p.target.file == rel)
            enc = docs[0]["spec"]["encryptedData"] if len(docs) == 1 else {}
            if not {item.target.id_key, item.target.secret_key} <= set(enc):
                raise StepFailed(f"{rel}: the new key did not land in the SealedSecret")
        if self.opts.commit_branch:
            message = f"Rotate AWS access key of IAM user {self.opts.user} ({old.key_id} -> {new.key_id})"
            commit = gitbranch.commit_files(self.opts.root, self.opts.commit_branch, texts, message)
            self.out(f"committed {len(texts)} file(s) on branch {self.opts.commit_branch} ({commit[:12]})")
            return sorted(texts)
        originals = {item.target.file: item.text for item in prepared}
        written: list[str] = []
        try:
            for rel, text in texts.items():
                path = self.opts.root / rel
                write_atomic(path, text, mode=path.stat().st_mode & 0o777)
                written.append(rel)
        except BaseException:
            for rel in written:
                write_atomic(self.opts.root / rel, originals[rel])
            raise
        self.out(f"sealed the new key into {len(written)} file(s)")
        return sorted(written)

    def _rollback(self, state: State, exc: BaseException | None) -> str:
        """Undo a rotation that never reached the sealed phase: the target files back to their text before
        it (or its branch removed), every key but the old one deleted, the state cleared."""
        reason = (str(exc) or type(exc).__name__) if exc is not None else "interrupted before sealing"
        user = self.opts.user
        if state.branch:
            gitbranch.delete_branch(self.opts.root, state.branch)
        else:
            for rel, text in state.originals.items():
                path = self.opts.root / rel
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    write_atomic(path, text)
        undone, failed = [], []
        for key in self.iam.access_keys():
            if key.key_id == state.old_key_id:
                continue
            try:
                self.iam.delete(key.key_id)
                undone.append(key.key_id)
            except (StepFailed, RotateError) as delete_exc:
                failed.append(
                    f"could NOT delete the new key {key.key_id} ({delete_exc}): delete it with "
                    f"'aws iam delete-access-key --user-name {user} --access-key-id {key.key_id}'"
                )
        if not failed:
            self.store.clear(user)
        what = f"deleted the new key {', '.join(undone)}" if undone else "no new key was left in IAM"
        return "; ".join(
            [
                reason,
                f"rolled back: {what}",
                *failed,
                f"the old key {state.old_key_id} is untouched and the files are as before; "
                "fix the cause and rerun",
            ]
        )

    # -- resume / finalize ---------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from the saved phase: deactivate when the new key is in use, delete after grace."""
        state = self._state()
        if state.phase == CREATED:
            message = self._rollback(state, None)
            if self.store.load(self.opts.user) is not None:
                raise StepFailed(message)
            self.out(message)
            return
        keys = {k.key_id: k for k in self.iam.access_keys()}
        new = keys.get(state.new_key_id)
        if new is None or new.status != "Active":
            raise StepFailed(
                f"the new key {state.new_key_id} is {'missing' if new is None else new.status} in IAM; "
                f"the old key {state.old_key_id} was left as it is: investigate before continuing"
            )
        if state.old_key_id not in keys:
            self.out(f"the old key {state.old_key_id} is already gone; rotation complete")
            self.store.finish(state)
            return
        self._advance(state)

    def finalize(self) -> None:
        """Delete the old key now; only when it is inactive and the new key is active."""
        state = self.store.load(self.opts.user)
        keys = {k.key_id: k for k in self.iam.access_keys()}
        if state is None:
            inactive = [k for k in keys.values() if k.status == "Inactive"]
            active = [k for k in keys.values() if k.status == "Active"]
            if len(inactive) != 1 or len(active) != 1:
                raise RotateError(f"no rotation of {self.opts.user} in progress and no single inactive key")
            self.out(f"no saved rotation: deleting the only inactive key {inactive[0].key_id}")
            self.iam.delete(inactive[0].key_id)
            self.out(f"deleted {inactive[0].key_id}; {active[0].key_id} remains active")
            return
        if state.phase != DEACTIVATED:
            raise RotateError(
                f"the old key {state.old_key_id} is still active (phase {state.phase}): deactivate it first "
                "with --resume (once the new key is in use) or --resume --deactivate-now"
            )
        self._delete_old(state, keys)

    def status(self) -> None:
        """Print the saved phase and the user's keys with their last use."""
        state = self.store.load(self.opts.user)
        self.out(f"rotation: {state.phase if state else 'none in progress'}")
        if state:
            self.out(f"  old {state.old_key_id} new {state.new_key_id} files {', '.join(state.files)}")
        for key in self.iam.access_keys():
            used, service = self.iam.last_used(key.key_id)
            self.out(f"  {key.key_id} {key.status} last used {used or 'never'} ({service})")

    def _state(self) -> State:
        state = self.store.load(self.opts.user)
        if state is None:
            raise RotateError(
                f"no rotation of {self.opts.user} in progress (state {self.store.path(self.opts.user)})"
            )
        return state

    def _advance(self, state: State) -> None:
        if state.phase == SEALED:
            if not self._consumers_restarted(state):
                return
            if not self.opts.deactivate_now and not self._new_key_in_use(state):
                where = f"branch {state.branch}" if state.branch else "the working tree"
                self.out(
                    f"waiting: the new key {state.new_key_id} is not used by a workload yet. Merge/sync the "
                    f"change ({where}) so the pods pick it up, then run --resume (or --resume "
                    "--deactivate-now). Both keys stay active until then."
                )
                return
            self.iam.set_status(state.old_key_id, "Inactive")
            state.phase, state.deactivated_at = DEACTIVATED, now().isoformat()
            self.store.save(state)
            self.out(f"deactivated the old key {state.old_key_id} (reversible: set it Active again)")
        deactivated = state.deactivated_time()
        if deactivated is not None and now() >= deactivated + self.opts.grace:
            self._delete_old(state, {k.key_id: k for k in self.iam.access_keys()})
        else:
            due = (deactivated or now()) + self.opts.grace
            self.out(
                f"the old key will be deleted by --resume after {due.isoformat()} or now with --finalize"
            )

    def _consumers_restarted(self, state: State) -> bool:
        """The gate: every target's Secret carries the new key and its consumers restarted on it."""
        if self.opts.skip_consumer_check:
            self.out("warning: --skip-consumer-check: not checking that the consumers restarted")
            return True
        if not state.secrets:  # a rotation saved by a version without the consumer check
            prepared = prepare(self.opts.root, load_targets(self.opts.targets, self.opts.user))
            state.secrets = [asdict(secret_consumers(p)) for p in prepared]
            self.store.save(state)
        secrets = [SecretConsumers(**_consumer_fields(saved)) for saved in state.secrets]
        new_key = state.new_key_id
        pending = [reason for secret in secrets for reason in self.consumers.pending(secret, new_key)]
        if pending:
            self.out(f"waiting: {len(pending)} consumer check(s) pending; both keys stay active:")
            for reason in pending:
                self.out(f"  {reason}")
            self.out("run --resume once they are done")
            return False
        self.out(f"every consumer of {len(state.secrets)} Secret(s) runs on the new key {state.new_key_id}")
        return True

    def _new_key_in_use(self, state: State) -> bool:
        verified = dt.datetime.fromisoformat(state.verified_at)
        deadline = time.monotonic() + self.opts.wait_for_use_s
        while True:
            used, service = self.iam.last_used(state.new_key_id)
            # Our own verification was an STS call just before ``verified``: an STS use counts only
            # when clearly later (clock skew), any other service as soon as it is after ``verified``.
            later = used is not None and used >= verified
            if later and (service.lower() not in ("sts", "n/a") or used >= verified + STS_SKEW):
                self.out(f"the new key {state.new_key_id} is in use ({service} at {used.isoformat()})")
                return True
            if time.monotonic() + USE_POLL_S > deadline:
                return False
            self.sleep(USE_POLL_S)

    def _delete_old(self, state: State, keys: dict[str, AccessKey]) -> None:
        new, old = keys.get(state.new_key_id), keys.get(state.old_key_id)
        if new is None or new.status != "Active":
            raise StepFailed(f"the new key {state.new_key_id} is not active: refusing to delete the old key")
        if old is not None:
            if old.status != "Inactive":
                raise RotateError(f"the old key {state.old_key_id} is {old.status} again: not deleting it")
            self.iam.delete(state.old_key_id)
            self.out(f"deleted the old key {state.old_key_id}; {state.new_key_id} is the only key")
        self.store.finish(state)


def _consumer_fields(saved: dict[str, object]) -> dict[str, object]:
    return {**saved, "consumers": tuple(saved.get("consumers") or ())}  # type: ignore[arg-type]
