"""Apply on merge: every merge applied once, in order, as it was reviewed (`reconciler ci apply`).

The state branch records the last commit of main whose manifests are applied.
An apply job (on a push to main, on the schedule, or run by hand) takes the
tenant's queue and walks main's first-parent history from there to main's tip,
one merge at a time, whatever job was started for which merge:

1. outside the target's apply windows, it stops: the merges stay pending and
   the scheduled run applies them when a window opens;
2. it plans the merge's manifests against the state and the tenant;
3. a plan with nothing to do is done;
4. otherwise it fetches the plan reviewed in the merge's pull request (the
   artifact the plan job saved for the PR's last commit) and compares the two
   (``planning/review.py``): identical, it applies the *reviewed plan file*,
   which apply refuses if anything it touches moved since (staleness); any
   difference, no reviewed plan, or a stale one, and it stops there, applies
   nothing, and says why on the pull request and in the job summary, with the
   digest of the fresh plan: ``--approve DIGEST`` applies exactly that plan;
5. after each merge applied, the state and the new applied commit are pushed
   to the state branch, so a job that dies later loses nothing.

Later merges wait behind one that is held: their manifests contain its changes.
"""

from __future__ import annotations

import enum
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clock import timestamp
from ..commands.apply import ApplyRequest, ApplyStatus, apply_target
from ..commands.hooks import Hooks
from ..commands.plan import PlanRequest, plan_target
from ..context import WORK_DIR, Context
from ..epoptia.errors import HaltedError
from ..errors import PlanError, ReconcilerError, StalePlanError
from ..planning import Plan, RefreshScope, Selection
from ..planning.review import Comparison, compare, plan_digest
from ..report import ApplyReport
from .branch import StateBranch, TargetFiles
from .comment import pull_request_of, title
from .errors import GitOpsError
from .git import Git
from .github import GitHub
from .queue import Held, TenantQueue
from .workspace import local_paths, place, read_local

PLAN_FILE = "reconciler-plan.json"


def artifact_name(target: str, pr: int) -> str:
    """The name the plan action saves a pull request's plan under, and the apply job looks it up by."""
    return f"epoptia-plan-{target}-pr{pr}"


class Status(enum.StrEnum):
    APPLIED = "applied"  # the reviewed plan (or the approved one) was applied
    NOTHING = "nothing"  # the merge changes nothing in Epoptia
    DIFFERENT = "different"  # the plan now is not the plan reviewed: held for a person
    STALE = "stale"  # the reviewed plan touches something that moved since: apply refused it, held
    UNREVIEWED = "unreviewed"  # no reviewed plan for this merge: held for a person
    WINDOW = "window"  # outside the apply windows: pending, the scheduled run applies it
    HALTED = "halted"  # a 403/429 halt stops every request until a person clears it
    FAILED = "failed"  # an error, or an apply that did not finish (what was done is in the state)
    WAITING = "waiting"  # behind an earlier merge that is held or pending

    @property
    def held(self) -> bool:
        """Needs a person (as opposed to done, or pending for a window)."""
        return self in (Status.DIFFERENT, Status.STALE, Status.UNREVIEWED, Status.HALTED, Status.FAILED)


@dataclass(frozen=True)
class Merge:
    commit: str
    title: str
    pr: int | None = None
    head: str | None = None  # the pull request's last commit, whose plan was reviewed


@dataclass(frozen=True)
class Step:
    merge: Merge
    status: Status
    message: str = ""  # for display
    fresh: Plan | None = None
    reviewed: Plan | None = None
    comparison: Comparison | None = None
    digest: str | None = None  # of the fresh plan: what --approve takes
    report: ApplyReport | None = None
    approved: bool = False  # applied because a person approved this exact plan


@dataclass(frozen=True)
class DrainRequest:
    approve: str | None = None  # the digest of a fresh plan a person approved
    skip_blocked: bool = False
    allow_mass_delete: bool = False
    selection: Selection = field(default_factory=Selection)
    ignore_window: bool = False
    refresh: RefreshScope = RefreshScope.TARGETED
    main: str = "main"


@dataclass(frozen=True)
class DrainOutcome:
    target: str
    steps: tuple[Step, ...] = ()
    applied: str | None = None  # the last commit of main whose manifests are applied
    # A merge held for a person by an earlier run, left alone since nothing changed (no approval, no new merge).
    still_held: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return any(step.status.held for step in self.steps)


class Drain:
    def __init__(
        self,
        context: Context,
        git: Git,
        branch: StateBranch,
        queue: TenantQueue,
        hooks: Hooks,
        github: GitHub | None,
        notice: Callable[[str], None],
    ) -> None:
        self.git, self.branch, self.queue, self.hooks, self.github = git, branch, queue, hooks, github
        self.notice = notice
        self.target = context.target_name
        self.files: TargetFiles = queue.files
        self.config_rel = context.config_path.resolve().relative_to(git.cwd)
        self.work = context.root / WORK_DIR / "ci" / self.target  # the merges are checked out here, one by one
        self.tree = self.work / "tree"

    # ------------------------------------------------------------------ git

    def _main_tip(self, main: str) -> str:
        if self.git.run("rev-parse", "--is-shallow-repository").strip() == "true":
            self.git.run("fetch", "--no-tags", "--quiet", "--unshallow", self.branch.remote, main)
        self.git.run("fetch", "--no-tags", "--quiet", self.branch.remote, f"+refs/heads/{main}:refs/reconciler/{main}")
        return self.git.run("rev-parse", f"refs/reconciler/{main}").strip()

    def _applied(self, tip: str | None) -> str | None:
        raw = self.branch.read(tip, self.files.applied)
        try:
            return str(json.loads(raw)["commit"]) if raw else None
        except (ValueError, KeyError, TypeError):
            return None

    def _commits(self, applied: str | None, head: str) -> list[str]:
        if applied == head:
            return []
        if applied and self.git.attempt("merge-base", "--is-ancestor", applied, head).returncode == 0:
            return self.git.run("rev-list", "--first-parent", "--reverse", f"{applied}..{head}").split()
        if applied:
            self.notice(f"The applied commit {applied[:12]} is not in main's history any more; applying main's tip.")
        return [head]

    def _merge(self, commit: str) -> Merge:
        message = self.git.run("log", "-1", "--format=%B", commit)
        pr, head = None, None
        if self.github is not None:
            try:
                pulls = self.github.pulls_of_commit(commit)
            except GitOpsError as error:
                self.notice(f"Warning: {error.message}")
                pulls = []
            merged = [p for p in pulls if p.get("merge_commit_sha") == commit] or [
                p for p in pulls if p.get("merged_at")
            ]
            if merged:
                pr, head = int(merged[0]["number"]), (merged[0].get("head") or {}).get("sha")
        if pr is None:
            pr = pull_request_of(message)
            if pr is not None and self.github is not None:
                try:
                    head = (self.github.pull(pr).get("head") or {}).get("sha")
                except GitOpsError as error:
                    self.notice(f"Warning: {error.message}")
        return Merge(commit=commit, title=title(message) or commit[:12], pr=pr, head=head)

    def _merges(self, commits: list[str]) -> list[Merge]:
        merges = [self._merge(c) for c in commits]
        # A pull request merged by rebase lands as several commits: only its last one was reviewed whole.
        return [m for i, m in enumerate(merges) if m.pr is None or i + 1 == len(merges) or merges[i + 1].pr != m.pr]

    def _checkout(self, commit: str) -> Context:
        """The merge's files in the work folder (the reconciler's own work dir in it is kept: throttle, cache)."""
        keep = (self.tree / self.config_rel).parent / WORK_DIR
        self.tree.mkdir(parents=True, exist_ok=True)
        _clear_except(self.tree, keep)
        archive = self.git.run_bytes("archive", "--format=tar", commit)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(self.tree, filter="data")
        return Context.open(self.tree / self.config_rel, self.target)

    # ------------------------------------------------------------------ the reviewed plan

    def _reviewed(self, merge: Merge) -> tuple[Plan | None, str]:
        if merge.pr is None:
            return None, "this commit did not come from a pull request, so no plan of it was reviewed"
        if self.github is None:
            return None, "no GitHub token, so the plan reviewed in the pull request cannot be fetched"
        name = artifact_name(self.target, merge.pr)
        try:
            found = self.github.artifacts(name)
            if merge.head:
                found = [a for a in found if (a.get("workflow_run") or {}).get("head_sha") == merge.head]
            if not found:
                head = f" for its last commit {merge.head[:12]}" if merge.head else ""
                return None, (
                    f"no plan of #{merge.pr} was saved{head} (artifact {name}: the plan job did not finish, "
                    "or the artifact expired)"
                )
            raw = self.github.artifact_file(int(found[0]["id"]), PLAN_FILE)
        except GitOpsError as error:
            return None, f"the reviewed plan could not be fetched: {error}"
        if raw is None:
            return None, f"artifact {name} holds no {PLAN_FILE}"
        try:
            return Plan.from_json(raw, source=f"the plan reviewed in #{merge.pr}"), ""
        except PlanError as error:
            return None, error.message

    # ------------------------------------------------------------------ one merge

    def _one(self, merge: Merge, context: Context, request: DrainRequest) -> Step:
        if context.halt.read() is not None:
            try:
                context.halt.check()
            except HaltedError as error:
                return Step(merge, Status.HALTED, str(error))
        window = context.window_check()
        if window is not None and not window.allowed and not request.ignore_window:
            return Step(merge, Status.WINDOW, window.message)
        wanted = PlanRequest(
            selection=request.selection, allow_mass_delete=request.allow_mass_delete, refresh=request.refresh
        )
        fresh = plan_target(context, wanted, self.hooks).plan
        if context.halt.read() is not None:
            return Step(
                merge, Status.HALTED, "Epoptia answered 403 or 429 while planning; requests are halted", fresh=fresh
            )
        if not fresh.refreshed and request.refresh is not RefreshScope.NONE:
            return Step(
                merge, Status.FAILED, "Epoptia could not be read, so nothing was planned against it", fresh=fresh
            )
        if not fresh.actions:
            return Step(merge, Status.NOTHING, fresh=fresh)
        digest = plan_digest(fresh)
        reviewed: Plan | None = None
        comparison: Comparison | None = None
        if request.approve and request.approve == digest:
            to_apply = fresh
        else:
            reviewed, why = self._reviewed(merge)
            if reviewed is None:
                return Step(merge, Status.UNREVIEWED, why, fresh=fresh, digest=digest)
            comparison = compare(reviewed, fresh)
            if not comparison.identical:
                return Step(
                    merge,
                    Status.DIFFERENT,
                    "the plan on main is not the plan reviewed in the pull request",
                    fresh=fresh,
                    reviewed=reviewed,
                    comparison=comparison,
                    digest=digest,
                )
            to_apply = reviewed
        approved = to_apply is fresh
        common: dict[str, Any] = dict(
            fresh=fresh, reviewed=reviewed, comparison=comparison, digest=digest, approved=approved
        )
        try:
            outcome = apply_target(
                context,
                ApplyRequest(
                    saved_plan=to_apply,
                    auto_approve=True,
                    skip_blocked=request.skip_blocked,
                    ignore_window=request.ignore_window,
                ),
                self.hooks,
            )
        except StalePlanError as error:
            return Step(merge, Status.STALE, str(error.message), **common)
        except HaltedError as error:
            return Step(merge, Status.HALTED, str(error), **common)
        except ReconcilerError as error:
            window = context.window_check()
            if window is not None and not window.allowed and not request.ignore_window:
                return Step(merge, Status.WINDOW, window.message, **common)
            return Step(merge, Status.FAILED, str(error), **common)
        report = outcome.report
        if (
            outcome.status is ApplyStatus.APPLIED
            and report is not None
            and not (report.complete or (request.skip_blocked and report.only_blocked_left))
        ):
            return Step(
                merge,
                Status.FAILED,
                "the apply did not finish; what was done is recorded in the state",
                report=report,
                **common,
            )
        return Step(merge, Status.APPLIED, report=report, **common)

    # ------------------------------------------------------------------ the walk

    def run(self, request: DrainRequest) -> DrainOutcome:
        head = self._main_tip(request.main)
        tip = self.branch.fetch()
        applied = self._applied(tip)
        if applied == head and not request.approve:
            self.notice(f"Nothing pending: main ({head[:12]}) is applied to {self.target!r}.")
            return DrainOutcome(self.target, (), applied)
        held_before = _held(self.branch.read(tip, self.files.pending), head)
        if held_before is not None and not request.approve:
            # Planning it again would hold it again (and spend requests): it waits for a person.
            self.notice(
                f"Still held for a person: {held_before['commit'][:12]} ({held_before['status']}); "
                "approve its plan or change the manifests."
            )
            return DrainOutcome(self.target, (), applied, still_held=held_before)
        held = self.queue.acquire("apply")
        steps: list[Step] = []
        carried = dict(held.branch)
        try:
            head = self._main_tip(request.main)  # merges may have landed while this job waited for the queue
            applied = self._applied(held.tip)
            merges = self._merges(self._commits(applied, head))
            for index, merge in enumerate(merges):
                self.notice(f"Merge {merge.commit[:12]}" + (f" (#{merge.pr})" if merge.pr else "") + f": {merge.title}")
                context = self._checkout(merge.commit)
                paths = local_paths(context)
                for name in ("halt", "journal"):  # the state stays: main's copy is the seed when the branch has none
                    paths[name].unlink(missing_ok=True)
                place(paths, carried)
                try:
                    step = self._one(merge, context, request)
                finally:
                    carried = read_local(paths)
                steps.append(step)
                self.notice(f"  {step.status.value}" + (f": {step.message}" if step.message else ""))
                if step.status in (Status.APPLIED, Status.NOTHING):
                    applied = merge.commit
                    self._record(held, carried, merge, step)
                    continue
                steps += [Step(later, Status.WAITING, f"behind {merge.commit[:12]}") for later in merges[index + 1 :]]
                break
            return DrainOutcome(self.target, tuple(steps), applied)
        finally:
            self.queue.record(
                held, carried, self._message(steps), extra={self.files.pending: _pending(steps, head)}, release=True
            )

    def _record(self, held: Held, carried: dict[str, bytes | None], merge: Merge, step: Step) -> None:
        record = {
            "commit": merge.commit,
            "pr": merge.pr,
            "title": merge.title,
            "at": timestamp(),
            "digest": step.digest,
            "approved": step.approved,
        }
        applied = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        origin = f"#{merge.pr}" if merge.pr else f"commit {merge.commit[:12]}"
        verb = "applying" if step.status is Status.APPLIED else "checking"
        self.queue.record(
            held,
            carried,
            f"reconciler: state of {self.target!r} after {verb} {origin}\n\nApplied for: {merge.title}\n",
            extra={self.files.applied: applied},
        )

    def _message(self, steps: list[Step]) -> str:
        waiting = [s for s in steps if s.status not in (Status.APPLIED, Status.NOTHING)]
        if not waiting:
            return f"reconciler: apply of {self.target!r} done\n"
        first = waiting[0]
        origin = f"#{first.merge.pr}" if first.merge.pr else first.merge.commit[:12]
        return f"reconciler: {len(waiting)} merge(s) pending for {self.target!r}: {origin} {first.status.value}\n"


def _clear_except(folder: Path, keep: Path) -> None:
    """Empty ``folder`` except the path ``keep`` inside it."""
    for entry in folder.iterdir():
        if entry == keep:
            continue
        if keep.is_relative_to(entry):
            _clear_except(entry, keep)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


_WAITS_FOR_A_PERSON = (Status.DIFFERENT.value, Status.STALE.value, Status.UNREVIEWED.value)


def _held(raw: bytes | None, head: str) -> dict[str, Any] | None:
    """The merge an earlier run held for a person, if main has not moved since (a new merge is looked at anew)."""
    try:
        pending = json.loads(raw) if raw else None
        first = pending["merges"][0] if pending and pending.get("head") == head else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return first if isinstance(first, dict) and first.get("status") in _WAITS_FOR_A_PERSON else None


def _pending(steps: list[Step], head: str | None = None) -> bytes | None:
    waiting = [s for s in steps if s.status not in (Status.APPLIED, Status.NOTHING)]
    if not waiting:
        return None
    rows = [
        {
            "commit": s.merge.commit,
            "pr": s.merge.pr,
            "title": s.merge.title,
            "status": s.status.value,
            "why": s.message,
            "digest": s.digest,
        }
        for s in waiting
    ]
    record = {"updated": timestamp(), "head": head, "merges": rows}
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
