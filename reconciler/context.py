"""The Context: one configured repository and one chosen target.

It knows where everything of the target lives (manifests, state file, journal,
halt, parse cache, the built-in emulator's data) and how to connect to it. The
commands in ``reconciler.commands`` take a Context and do the work; the CLI
only builds one from its options.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config, Target, find_config, load_config
from .epoptia.profile import WireProfile
from .errors import ConfigError
from .fsio import atomic_write
from .load import load_manifests
from .resources import Desired
from .state import StateStore
from .windows import WindowCheck

if TYPE_CHECKING:
    from .epoptia.client import EpoptiaClient
    from .epoptia.throttle import Halt
    from .executor import Journal

WORK_DIR = ".reconciler"
_WORK_FOLDERS = ("cache", "emulator", "halt", "journal", "relay", "throttle")


@dataclass
class Context:
    config_path: Path
    config: Config
    target_name: str

    @classmethod
    def open(cls, config_path: Path | None = None, target: str | None = None) -> Context:
        path = config_path if config_path is not None else find_config(Path.cwd())
        config = load_config(path)
        name = target or config.default_target
        if name not in config.targets:
            from .words import did_you_mean

            raise ConfigError(
                f"unknown target {name!r} in {path}{did_you_mean(name, config.targets)}",
                hint=f"known targets: {', '.join(sorted(config.targets))}",
            )
        context = cls(config_path=path, config=config, target_name=name)
        if not config.paths_outside_repository:
            context._confine("manifests", context.manifests_dir)
            context._confine(f"targets.{name}.state", context.root / context.target.state)
        context._own_folders()
        return context

    def _own_folders(self) -> None:
        """The working folders stay in the repository, whatever it holds: a cloned repository can commit
        `.reconciler` (or a folder in it) as a link, and the journal, halt and emulator would follow it."""
        for folder in (self.work_dir, *(self.work_dir / sub for sub in _WORK_FOLDERS)):
            real = folder.resolve()
            if not real.is_relative_to(self.root):
                raise ConfigError(
                    f"{folder} leads outside the repository (to {real}): the reconciler keeps its working files there",
                    hint=f"remove the link {folder}; the folder is made again",
                )

    def _confine(self, key: str, path: Path) -> None:
        if not path.resolve().is_relative_to(self.root):
            raise ConfigError(
                f"{self.config_path}: {key} points outside the repository ({path.resolve()})",
                hint="keep manifests and state inside the repository, or set "
                "`paths_outside_repository: true` if that is really meant",
            )

    @property
    def root(self) -> Path:
        return self.config_path.resolve().parent

    @property
    def target(self) -> Target:
        return self.config.targets[self.target_name]

    @property
    def manifests_dir(self) -> Path:
        return self.root / self.config.manifests

    @property
    def work_dir(self) -> Path:
        """Local, untracked working files: parse cache, emulator data, journal, throttle, halt."""
        return self.root / WORK_DIR

    @cached_property
    def state_store(self) -> StateStore:
        from .localcache import cache_dir_for

        return StateStore(self.root / self.target.state, cache_dir=cache_dir_for(self.root))

    @cached_property
    def profile(self) -> WireProfile:
        return self.target.wire_profile

    @property
    def halt(self) -> Halt:
        from .epoptia.throttle import Halt

        return Halt(self.work_dir / "halt" / f"{self.target_name}.json", self.target_name)

    @property
    def journal(self) -> Journal:
        from .executor import Journal

        return Journal(self.work_dir / "journal" / f"{self.target_name}.json")

    def load_desired(self) -> Desired:
        from .localcache import cache_dir_for

        return load_manifests(self.manifests_dir, cache_dir=cache_dir_for(self.root), inside=self.root)

    def window_check(self, now: datetime | None = None) -> WindowCheck | None:
        """Whether an apply is allowed now by the target's apply windows (None: the target has none)."""
        windows = self.target.apply_windows
        if windows is None:
            return None
        return windows.check(now or datetime.now(UTC))

    def workstation_ids(self) -> dict[str, int]:
        """Workstation names -> Epoptia ids: the target's `workstations:` map, and the built-in emulator's own."""
        ids = dict(self.target.workstations)
        if self.target.is_emulator:
            from .emulator.store import Store

            db = self.work_dir / "emulator" / f"{self.target_name}.sqlite"
            if db.exists():
                store = Store(db)
                try:
                    ids = {w["name"]: w["id"] for w in store.workstations()} | ids
                finally:
                    store.close()
        return ids

    def workstation_id(self, workstation: str) -> int:
        """The Epoptia id of a workstation named as the manifests name it (or given by id)."""
        ids = self.workstation_ids()
        if workstation in ids:
            return ids[workstation]
        if workstation.isascii() and workstation.isdigit():
            return int(workstation)
        from .words import did_you_mean

        raise ConfigError(
            f"unknown workstation {workstation!r} for target {self.target_name!r}{did_you_mean(workstation, ids)}",
            hint="Epoptia's list gives workstations by name only: map names to ids under "
            "`workstations:` in the target in reconciler.yaml, or pass the id",
        )

    # ------------------------------------------------------------------ talking to Epoptia

    def _emulator_key(self) -> str:
        from .emulator.server import new_api_key

        path = self.work_dir / "emulator" / f"{self.target_name}.key"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise ConfigError(f"cannot read the built-in emulator's key {path}: {error.strerror}") from None
        key = new_api_key()
        try:
            atomic_write(path, key.encode(), durable=False)
        except OSError as error:
            raise ConfigError(
                f"cannot write the built-in emulator's key {path}: {error.strerror}",
                hint=f"{self.work_dir} must be writable",
            ) from None
        return key

    def api_key(self) -> str:
        from .secrets import key_problem, register

        key = os.environ.get(self.target.api_key_env, "")
        if key:
            register(key)
            problem = key_problem(key)
            if problem is not None:
                raise ConfigError(
                    f"the API key in ${self.target.api_key_env} cannot be used: {problem}",
                    hint=f"copy the key again from https://<subdomain>.epoptia.io/integrations and set "
                    f"{self.target.api_key_env} to exactly the key (in CI: the repository secret)",
                )
            return key
        if self.target.is_emulator:
            return self._emulator_key()
        raise ConfigError(
            f"no API key for target {self.target_name!r}: ${self.target.api_key_env} is not set",
            hint=f"make a key at https://<subdomain>.epoptia.io/integrations and export {self.target.api_key_env} "
            "(in CI: a repository secret)",
        )

    @contextmanager
    def connect(self) -> Iterator[EpoptiaClient]:
        """A client for the target; for the built-in emulator, the emulator runs as long as the block."""
        from .epoptia.client import EpoptiaClient
        from .epoptia.throttle import Throttle

        key = self.api_key()
        options = dict(
            profile=self.profile,
            throttle=Throttle(self.work_dir / "throttle", self.target_name, self.target.spacing),
            halt=self.halt,
            key_env=self.target.api_key_env,
            retry=self.target.retry_policy,
            timeout=self.target.timeout,
        )
        if self.target.is_emulator:
            from .emulator.server import EmulatorServer

            db = self.work_dir / "emulator" / f"{self.target_name}.sqlite"
            with (
                EmulatorServer(db, api_keys=(key,), profile=self.profile) as server,
                EpoptiaClient(server.url, key, **options) as client,  # type: ignore[arg-type]
            ):
                yield client
        else:
            with EpoptiaClient(self.target.endpoint, key, **options) as client:  # type: ignore[arg-type]
                yield client
