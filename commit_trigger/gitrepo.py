"""What the trigger asks git: the full SHA of a revision, the paths a range changed, ancestry, a file at a
commit, and a blobless clone (the cluster hook has no checkout)."""

import subprocess
from pathlib import Path

from commit_trigger.errors import TriggerInputError


class GitRepo:
    """A local repository (a checkout or a blobless clone)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *args], capture_output=True, text=True, check=False, timeout=600
            )
        except FileNotFoundError:
            raise TriggerInputError("git is not installed") from None
        if check and done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise TriggerInputError(f"git {' '.join(args)}: {last}")
        return done

    def resolve(self, revision: str) -> str:
        """The full SHA of a revision (HEAD, a branch, a short SHA)."""
        done = self._git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if done.returncode != 0:
            raise TriggerInputError(f"{revision!r} is not a commit in {self.path}")
        return done.stdout.strip()

    def first_parent(self, sha: str) -> str | None:
        done = self._git("rev-parse", "--verify", "--quiet", f"{sha}^1", check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def is_ancestor(self, ancestor: str, sha: str) -> bool:
        return self._git("merge-base", "--is-ancestor", ancestor, sha, check=False).returncode == 0

    def has_commit(self, sha: str) -> bool:
        return self._git("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def changed_paths(self, base: str, sha: str) -> list[str]:
        """Paths that differ between two commits (both sides of a rename)."""
        done = self._git("diff", "--name-only", "--no-renames", base, sha)
        return sorted({line for line in done.stdout.splitlines() if line})

    def all_paths(self, sha: str) -> list[str]:
        return sorted(self._git("ls-tree", "-r", "--name-only", sha).stdout.splitlines())

    def read(self, sha: str, path: str) -> str | None:
        """A file's text at a commit, None when the commit has no such file."""
        done = self._git("show", f"{sha}:{path}", check=False)
        return done.stdout if done.returncode == 0 else None

    @classmethod
    def clone(cls, url: str, target: Path) -> "GitRepo":
        """A blobless clone into `target` (history and trees, file contents fetched on demand)."""
        done = subprocess.run(
            ["git", "clone", "--quiet", "--filter=blob:none", "--no-checkout", url, str(target)],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise TriggerInputError(f"git clone {url} failed: {done.stderr.strip()[-300:]}")
        return cls(target)
