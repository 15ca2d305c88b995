"""The state branch: where CI keeps each target's state, halt, queue lease and apply record.

A branch of its own (``reconciler-state`` by default, with no common history
with ``main``) that only the reconciler's jobs write. ``main`` may be as
protected as a factory likes: nothing is ever pushed there, and a merge
landing during an apply cannot reject the apply's push, since they are
different branches. Per target, beside the state file's path in the repository:

    state/production.json           the state (one resource per line)
    state/production.halt.json      the halt a 403/429 set, until a person clears it
    state/production.journal.json   the intent of an apply's batch in flight when its job was stopped
    state/production.lease.json     who holds the tenant's queue, until when
    state/production.applied.json   the last commit of main whose manifests are applied
    state/production.pending.json   merges not applied yet, and why (for people to read)

Every write is a commit on the tip just fetched, pushed without force: git
refuses the push if anyone else pushed since, and the write is made again on
the new tip (fetch, re-apply, retry). Writes replace whole files, and a job
writes only what it owns; the state itself is merged resource by resource if
it ever changed under a job (possible only when a lease was broken), and a
conflict is saved on a rescue branch instead of overwriting anything.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..state.layout import serialise
from ..state.values import State
from .errors import GitOpsError, StateConflictError
from .git import Git

DEFAULT_BRANCH = "reconciler-state"
_MOVED = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
    "stale info",
)
Changes = dict[str, bytes | None]  # path -> new content, or None to delete


@dataclass(frozen=True)
class TargetFiles:
    """Where one target's files live on the state branch: beside the state file's path in the repository."""

    state: str

    def _beside(self, suffix: str) -> str:
        stem = self.state[: -len(".json")] if self.state.endswith(".json") else self.state
        return f"{stem}.{suffix}.json"

    @property
    def halt(self) -> str:
        return self._beside("halt")

    @property
    def journal(self) -> str:
        return self._beside("journal")

    @property
    def lease(self) -> str:
        return self._beside("lease")

    @property
    def applied(self) -> str:
        return self._beside("applied")

    @property
    def pending(self) -> str:
        return self._beside("pending")


class StateBranch:
    def __init__(self, git: Git, remote: str = "origin", name: str = DEFAULT_BRANCH) -> None:
        self.git, self.remote, self.name = git, remote, name
        self.local_ref = f"refs/reconciler/{name}"

    def fetch(self) -> str | None:
        """The branch's tip on the remote, fetched; None when the branch does not exist yet."""
        result = self.git.attempt(
            "fetch", "--no-tags", "--quiet", self.remote, f"+refs/heads/{self.name}:{self.local_ref}"
        )
        if result.returncode != 0:
            if "couldn't find remote ref" in result.stderr:
                self.git.attempt("update-ref", "-d", self.local_ref)
                return None
            raise GitOpsError(
                f"cannot fetch the state branch {self.name!r} from {self.remote}: {result.stderr.strip()}",
                hint="the job needs `permissions: contents: read` (and write to record anything)",
            )
        return self.git.run("rev-parse", self.local_ref).strip()

    def read(self, tip: str | None, path: str) -> bytes | None:
        if tip is None:
            return None
        result = self.git.run_bytes("cat-file", "blob", f"{tip}:{path}", check=False)
        if not result and self.git.attempt("cat-file", "-e", f"{tip}:{path}").returncode != 0:
            return None
        return result

    def commit(self, tip: str | None, changes: Changes, message: str) -> str | None:
        """A commit of ``changes`` on ``tip`` (None: nothing would change)."""
        git_dir = Path(self.git.run("rev-parse", "--absolute-git-dir").strip())
        index = git_dir / f"reconciler-index-{random.getrandbits(48):x}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.git.run("read-tree", *([tip] if tip else ["--empty"]), env=env)
            for path, content in sorted(changes.items()):
                if content is None:
                    self.git.run("update-index", "--force-remove", "--", path, env=env)
                else:
                    blob = self.git.run("hash-object", "-w", "--stdin", input=content).strip()
                    self.git.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.git.run("write-tree", env=env).strip()
        finally:
            index.unlink(missing_ok=True)
        if tip is not None and tree == self.git.run("rev-parse", f"{tip}^{{tree}}").strip():
            return None
        return self.git.run("commit-tree", tree, *(["-p", tip] if tip else []), "-m", message).strip()

    def push(self, commit: str, ref: str | None = None) -> bool:
        """Push without force; False when the branch moved since (someone else pushed), an error otherwise."""
        target = f"refs/heads/{ref or self.name}"
        result = self.git.attempt("push", "--porcelain", "--quiet", self.remote, f"{commit}:{target}")
        if result.returncode == 0:
            return True
        text = result.stdout + result.stderr
        # Someone else pushed first (or at the same moment: the remote could not lock the ref): try again.
        if any(sign in text for sign in _MOVED):
            return False
        raise GitOpsError(
            f"the remote refused the push to {ref or self.name!r}: {text.strip()[-400:]}",
            hint=f"the job needs `permissions: contents: write`, and no rule on the branch "
            f"{self.name!r} may stop GitHub Actions from pushing to it (protect `main`, not this branch)",
        )

    def update(self, build: Callable[[str | None], Changes | None], message: str, attempts: int = 30) -> str | None:
        """Fetch, build the changes on the tip, commit, push; again on a newer tip when someone pushed first.

        Returns the new tip (the old one when nothing changed, None when the branch does not exist).
        """
        for attempt in range(attempts):
            tip = self.fetch()
            changes = build(tip)
            if not changes:
                return tip
            commit = self.commit(tip, changes, message)
            if commit is None:
                return tip
            if self.push(commit):
                self.git.attempt("update-ref", self.local_ref, commit)
                return commit
            time.sleep(random.uniform(0.05, 0.3) * (1 + min(attempt, 5)))
        raise GitOpsError(
            f"could not write the state branch {self.name!r}: it moved {attempts} times in a row",
            hint="run the job again",
        )


def merge_states(base: bytes | None, ours: bytes, theirs: bytes | None, *, where: str) -> bytes:
    """Our state written over theirs, resource by resource, from a common base.

    Only our changes since ``base`` are applied; a resource both changed
    differently is a conflict (StateConflictError), never a silent overwrite.
    """
    if theirs is None or theirs == base:
        return ours
    mine, other = State.model_validate_json(ours), State.model_validate_json(theirs)
    origin = State.model_validate_json(base) if base else State()
    if mine.lineage and other.lineage and mine.lineage != other.lineage:
        raise StateConflictError(
            f"{where}: the state on the branch has another lineage ({other.lineage}) than "
            f"the one this job wrote ({mine.lineage})"
        )
    resources = dict(other.resources)
    conflicts = []
    for addr in set(mine.resources) | set(origin.resources):
        was, now, there = origin.resources.get(addr), mine.resources.get(addr), other.resources.get(addr)
        if now in (was, there):
            continue
        if there != was:
            conflicts.append(addr)
        elif now is None:
            resources.pop(addr, None)
        else:
            resources[addr] = now
    if conflicts:
        raise StateConflictError(
            f"{where}: another run changed {', '.join(sorted(conflicts)[:5])} "
            f"({len(conflicts)} resource(s)) while this one did too"
        )
    merged = other.model_copy(
        update={
            "resources": resources,
            "serial": max(mine.serial, other.serial) + 1,
            "lineage": other.lineage or mine.lineage,
        }
    )
    return serialise(merged)
