"""The Context: one configured repository and one chosen target.

Commands are thin: they parse options, ask the context for the stages' inputs
(desired resources, state, plan) and choose an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .config import Config, Target, find_config, load_config
from .errors import ConfigError
from .load import Desired, load_manifests
from .planning import Plan, Selection, make_plan
from .state import Snapshot, State, StateStore

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
        """Local, untracked working files: parse cache, emulator data, journals."""
        return self.root / WORK_DIR

    @cached_property
    def state_store(self) -> StateStore:
        return StateStore(self.root / self.target.state)

    def load_desired(self) -> Desired:
        return load_manifests(self.manifests_dir, cache_dir=self.work_dir / "cache" / "manifests")

    def read_state(self) -> State:
        return self.state_store.read()

    def plan(self, *, selection: Selection = Selection(), allow_mass_delete: bool = False,
             desired: Desired | None = None, state: Snapshot | State | None = None) -> Plan:
        return make_plan(
            desired if desired is not None else self.load_desired(),
            state if state is not None else self.state_store.snapshot(),
            target=self.target_name,
            selection=selection,
            delete_limit=self.target.deletion_limit,
            allow_mass_delete=allow_mass_delete,
        )
