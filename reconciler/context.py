"""The Context: one configured repository and one chosen target.

Commands are thin: they parse options, ask the context for the stages' inputs
(desired resources, state, refresh, plan, a connected client) and choose an
exit code.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

from .apply import Journal
from .config import Config, Target, find_config, load_config
from .epoptia.client import EpoptiaClient, RetryPolicy
from .epoptia.profile import DEFAULT_PROFILE, WireProfile
from .epoptia.throttle import Halt, Throttle
from .errors import ConfigError
from .load import Desired, load_manifests
from .planning import Plan, Selection, make_plan
from .refresh import Refresh, refresh
from .state import Snapshot, State, StateStore
from .windows import WindowCheck

WORK_DIR = ".reconciler"


@dataclass
class Context:
    config_path: Path
    config: Config
    target_name: str

    @classmethod
    def open(cls, config_path: Path | None = None, target: str | None = None) -> "Context":
        path = config_path if config_path is not None else find_config(Path.cwd())
        config = load_config(path)
        name = target or config.default_target
        if name not in config.targets:
            raise ConfigError(
                f"unknown target {name!r} in {path}",
                hint=f"known targets: {', '.join(sorted(config.targets))}",
            )
        return cls(config_path=path, config=config, target_name=name)

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
        return StateStore(self.root / self.target.state)

    @cached_property
    def profile(self) -> WireProfile:
        try:
            return DEFAULT_PROFILE.merged(self.target.profile)
        except Exception as error:  # pydantic's message names the bad field
            raise ConfigError(f"target {self.target_name!r}: invalid wire profile override: {error}") from None

    @property
    def halt(self) -> Halt:
        return Halt(self.work_dir / "halt" / f"{self.target_name}.json", self.target_name)

    @property
    def journal(self) -> Journal:
        return Journal(self.work_dir / "journal" / f"{self.target_name}.json")

    def load_desired(self) -> Desired:
        return load_manifests(self.manifests_dir, cache_dir=self.work_dir / "cache")

    def read_state(self) -> State:
        return self.state_store.read()

    # ------------------------------------------------------------------ talking to Epoptia

    def _emulator_key(self) -> str:
        from .emulator.server import new_api_key

        path = self.work_dir / "emulator" / f"{self.target_name}.key"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = new_api_key()
            path.write_text(key)
            return key

    def api_key(self) -> str:
        key = os.environ.get(self.target.api_key_env, "")
        if key:
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
        key = self.api_key()
        throttle_cfg = self.target.effective_throttle
        retries = self.target.effective_retries
        options = dict(
            profile=self.profile,
            throttle=Throttle(self.work_dir / "throttle", self.target_name, throttle_cfg.read_interval,
                              throttle_cfg.write_interval),
            halt=self.halt,
            key_env=self.target.api_key_env,
            retry=RetryPolicy(attempts=retries.attempts, backoff=retries.backoff),
            timeout=self.target.timeout,
        )
        if self.target.is_emulator:
            from .emulator.server import EmulatorServer

            db = self.work_dir / "emulator" / f"{self.target_name}.sqlite"
            with EmulatorServer(db, api_keys=(key,), profile=self.profile) as server:
                with EpoptiaClient(server.url, key, **options) as client:  # type: ignore[arg-type]
                    yield client
        else:
            with EpoptiaClient(self.target.endpoint, key, **options) as client:  # type: ignore[arg-type]
                yield client

    def refresh(self, snapshot: Snapshot, wire_lines: list[dict]) -> tuple[Snapshot, Refresh]:
        result = refresh(snapshot, wire_lines, self.profile)
        return snapshot.overlay(result.changes), result

    def plan(self, *, selection: Selection = Selection(), allow_mass_delete: bool = False,
             desired: Desired | None = None, state: Snapshot | State | None = None,
             refreshed: Refresh | None = None) -> Plan:
        return make_plan(
            desired if desired is not None else self.load_desired(),
            state if state is not None else self.state_store.snapshot(),
            target=self.target_name,
            selection=selection,
            delete_limit=self.target.deletion_limit,
            allow_mass_delete=allow_mass_delete,
            refreshed=refreshed is not None,
            drift=refreshed.drift if refreshed is not None else (),
            apply_window=self.window_check().message if self.target.apply_windows else None,
        )

    def window_check(self, now: datetime | None = None) -> WindowCheck:
        """Whether an apply is allowed now by the target's apply windows (always, without windows)."""
        windows = self.target.apply_windows
        if windows is None:
            return WindowCheck(allowed=True, message="no apply windows are set for this target")
        return windows.check(now or datetime.now(timezone.utc))
