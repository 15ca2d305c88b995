"""The GitHub side of the reconciler: what the workflows do besides planning and applying.

    comment.py    one comment per purpose on a pull request, found again by a hidden marker
    github.py     the few REST calls the workflows make (comments, the PR of a commit, artifacts)
    git.py        git as the reconciler's bot, the token passed in the environment
    branch.py     the state branch: state, halt, lease and apply record, written without force
    queue.py      one queue per tenant across every job: a lease on the state branch
    workspace.py  the carried files on disk; any command run in the queue (`reconciler ci run`)
    drain.py      apply on merge: every merge applied once, in order, as it was reviewed
    words.py      what the apply says on the pull request and in the job summary

Kept here, in Python and tested, rather than in shell inside the actions.
"""

from .comment import APPLY_MARKER, PLAN_MARKER, comment_body, pull_request_of
from .errors import GitOpsError
from .github import GitHub

__all__ = ["APPLY_MARKER", "PLAN_MARKER", "GitHub", "GitOpsError", "comment_body", "pull_request_of"]
