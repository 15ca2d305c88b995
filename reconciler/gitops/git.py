"""Running git for the CI steps: one identity, the token passed in the environment, never stored.

With ``actions/checkout``'s ``persist-credentials: false`` the checkout keeps no
token on disk; the steps that fetch and push the state branch pass the
workflow's token to git as an HTTP header through GIT_CONFIG_* variables (an
empty value first, so a header persisted by a checkout is replaced, not doubled).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from .errors import GitOpsError

BOT_NAME = "epoptia-reconciler[bot]"
BOT_EMAIL = "epoptia-reconciler@users.noreply.github.com"


def auth_env(remote_url: str, token: str | None) -> dict[str, str]:
    """GIT_CONFIG_* variables that send ``token`` to an https remote, or nothing."""
    if not token or not remote_url.startswith("https://"):
        return {}
    parts = urlsplit(remote_url)
    key = f"http.{parts.scheme}://{parts.hostname}/.extraheader"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": key,
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": key,
        "GIT_CONFIG_VALUE_1": f"AUTHORIZATION: basic {basic}",
    }


class Git:
    """git in one repository, as the reconciler's bot."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = {
            **os.environ,
            "GIT_AUTHOR_NAME": BOT_NAME,
            "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME,
            "GIT_COMMITTER_EMAIL": BOT_EMAIL,
            "GIT_TERMINAL_PROMPT": "0",
            **(env or {}),
        }

    @classmethod
    def at(cls, folder: Path, remote: str = "origin", token: str | None = None) -> Git:
        """git in the repository that holds ``folder``, with ``token`` for its remote when it is https."""
        probe = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True)
        if probe.returncode != 0:
            raise GitOpsError(
                f"{folder} is not in a git repository", hint="run this from a checkout of the manifests repository"
            )
        git = cls(Path(probe.stdout.strip()))
        url = git.run("remote", "get-url", remote, check=False).strip()
        git.env.update(auth_env(url, token if token is not None else os.environ.get("GITHUB_TOKEN")))
        return git

    def run(
        self, *args: str, input: bytes | str | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> str:
        return self.run_bytes(*args, input=input, check=check, env=env).decode("utf-8", errors="replace")

    def run_bytes(
        self, *args: str, input: bytes | str | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> bytes:
        data = input.encode("utf-8") if isinstance(input, str) else input
        result = subprocess.run(
            ["git", *args], cwd=self.cwd, input=data, capture_output=True, env={**self.env, **(env or {})}
        )
        if check and result.returncode != 0:
            raise GitOpsError(f"git {' '.join(args[:3])} failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout

    def attempt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=self.cwd, capture_output=True, text=True, env=self.env)
