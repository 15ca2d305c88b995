"""One queue per tenant across every CI job, and the files each job carries to and from the state branch.

GitHub's `concurrency:` groups cannot be that queue: a group keeps one job
pending and cancels any older pending one, so a plan job queued behind an apply
would silently lose a pull request its plan comment (or an apply its turn).
Instead, a job that talks to a tenant takes a *lease*: a file on the state
branch naming the job, pushed without force, so exactly one job can add it.
Others wait, polling, until it is removed; a lease whose holder died expires
(``--lease`` minutes) or is broken by a person with `reconciler ci lease break`.

While it holds the lease a job works on the state, halt and journal fetched
from the branch, and when it is done it writes back what it changed (the halt
a 403/429 set, the state an apply wrote) and removes the lease, in one commit.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..clock import timestamp
from .branch import Changes, StateBranch, TargetFiles, merge_states
from .errors import GitOpsError, QueueBusyError, StateConflictError

CARRIED = ("state", "halt", "journal")  # the files a job works on locally, fetched and recorded


def holder() -> str:
    """Who is asking: the workflow run (and job), or user@host and pid outside GitHub."""
    run = os.environ.get("GITHUB_RUN_ID")
    if run:
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{run}"
        job = os.environ.get("GITHUB_JOB")
        return f"{url}" + (f" (job {job})" if job else "")
    return f"{os.environ.get('USER', 'someone')}@{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True)
class Lease:
    id: str
    job: str
    target: str
    holder: str
    acquired: str
    expires: str

    def to_bytes(self) -> bytes:
        return (json.dumps(self.__dict__, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, raw: bytes | None) -> Lease | None:
        if raw is None:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            # Unreadable: treat it as a lease held by someone unknown, expiring in a minute, so nothing races it.
            soon = timestamp(datetime.now(UTC) + timedelta(minutes=1))
            return cls("?", "?", "?", "unknown (unreadable lease file)", "?", soon)

    def expired(self, now: datetime) -> bool:
        try:
            return datetime.fromisoformat(self.expires) <= now
        except ValueError:
            return True

    def describe(self) -> str:
        return f"the {self.job} job of {self.holder} (since {self.acquired}, lease {self.id}, expires {self.expires})"


@dataclass
class Held:
    """A lease this job holds, and the carried files as the branch had them and as the job started from them."""

    lease: Lease
    tip: str | None
    branch: dict[str, bytes | None]
    base: dict[str, bytes | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base = {**self.branch, **self.base}


class TenantQueue:
    def __init__(
        self,
        branch: StateBranch,
        files: TargetFiles,
        target: str,
        *,
        lease_minutes: float = 120,
        wait_minutes: float = 60,
        poll_seconds: float = 15,
        notice: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.branch, self.files, self.target = branch, files, target
        self.lease_minutes, self.wait_minutes, self.poll_seconds = lease_minutes, wait_minutes, poll_seconds
        self.notice = notice

    def path(self, name: str) -> str:
        return str(getattr(self.files, name))

    def read_carried(self, tip: str | None) -> dict[str, bytes | None]:
        return {name: self.branch.read(tip, self.path(name)) for name in CARRIED}

    def current(self) -> Lease | None:
        return Lease.parse(self.branch.read(self.branch.fetch(), self.files.lease))

    def acquire(self, job: str) -> Held:
        """Wait for the queue, then hold it; the carried files come with it."""
        deadline = time.monotonic() + self.wait_minutes * 60
        told: str | None = None
        last_told = 0.0
        while True:
            tip = self.branch.fetch()
            other = Lease.parse(self.branch.read(tip, self.files.lease))
            now = datetime.now(UTC)
            if other is not None and not other.expired(now):
                if time.monotonic() > deadline:
                    raise QueueBusyError(
                        f"the queue of target {self.target!r} is held by {other.describe()}",
                        hint="wait for that job; if it died, break its lease with "
                        f"`reconciler ci lease break {other.id}`",
                    )
                if told != other.id or time.monotonic() - last_told > 60:
                    self.notice(f"Queue: waiting for {other.describe()}")
                    told, last_told = other.id, time.monotonic()
                time.sleep(self.poll_seconds)
                continue
            if other is not None:
                self.notice(f"Queue: the lease of {other.describe()} expired; taking the queue")
            mine = Lease(
                id=uuid.uuid4().hex[:12],
                job=job,
                target=self.target,
                holder=holder(),
                acquired=timestamp(now),
                expires=timestamp(now + timedelta(minutes=self.lease_minutes)),
            )
            commit = self.branch.commit(
                tip,
                {self.files.lease: mine.to_bytes()},
                f"reconciler: {job} of {self.target!r} takes the tenant's queue\n\n{mine.holder}\n",
            )
            if commit is not None and self.branch.push(commit):
                self.branch.git.attempt("update-ref", self.branch.local_ref, commit)
                self.notice(f"Queue: holding the queue of {self.target!r} (lease {mine.id})")
                return Held(mine, commit, self.read_carried(commit))

    def record(
        self,
        held: Held,
        local: dict[str, bytes | None],
        message: str,
        *,
        extra: Changes | None = None,
        release: bool = False,
    ) -> None:
        """Write what this job changed (and ``extra``) to the branch; with ``release``, give the queue back."""
        wrote: dict[str, bytes | None] = {}

        def build(tip: str | None) -> Changes:
            changes: Changes = dict(extra or {})
            wrote.clear()
            for name in CARRIED:
                if name not in local:
                    continue
                now = local[name]
                if now == held.base.get(name) or (name == "state" and now is None):
                    continue
                path = self.path(name)
                if name == "state":
                    theirs = self.branch.read(tip, path)
                    if theirs != held.branch.get(name):
                        now = self._merge(held, now, theirs, tip)  # type: ignore[arg-type]
                changes[path] = now
                wrote[name] = now
            if release:
                there = Lease.parse(self.branch.read(tip, self.files.lease))
                if there is not None and there.id == held.lease.id:
                    changes[self.files.lease] = None
                elif there is not None:
                    self.notice(f"Queue: our lease was taken over by {there.describe()}; leaving it")
            return changes

        held.tip = self.branch.update(build, message)
        for name, content in wrote.items():
            held.branch[name] = held.base[name] = content

    def _merge(self, held: Held, ours: bytes, theirs: bytes | None, tip: str | None) -> bytes:
        try:
            return merge_states(held.base.get("state"), ours, theirs, where=self.path("state"))
        except (StateConflictError, ValueError) as error:
            rescue = f"{self.branch.name}-rescue-{held.lease.id}"
            commit = self.branch.commit(
                tip, {self.path("state"): ours}, f"reconciler: the state this job wrote, kept apart ({held.lease.id})\n"
            )
            if commit is not None:
                self.branch.push(commit, ref=rescue)
            message = error.message if isinstance(error, StateConflictError) else str(error)
            raise StateConflictError(
                f"the state on {self.branch.name!r} changed while this job held the queue: {message}",
                hint=f"nothing was overwritten; the state this job wrote is on branch {rescue!r}: compare the two "
                "and keep the right one (this happens only when a lease expired or was broken)",
            ) from None

    def break_lease(self, lease_id: str) -> Lease:
        broken: list[Lease] = []

        def build(tip: str | None) -> Changes:
            there = Lease.parse(self.branch.read(tip, self.files.lease))
            if there is None:
                raise GitOpsError(f"the queue of target {self.target!r} is not held")
            if there.id != lease_id:
                raise GitOpsError(
                    f"lease {lease_id!r} is not the one holding the queue ({there.id})",
                    hint="copy the id from `reconciler ci lease show`",
                )
            broken[:] = [there]
            return {self.files.lease: None}

        self.branch.update(build, f"reconciler: lease {lease_id} of {self.target!r} broken by a person\n\n{holder()}\n")
        return broken[0]
