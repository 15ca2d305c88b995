"""reconciler.yaml: where the manifests are and the targets they are applied to.

A target is one Epoptia tenant (or the built-in emulator): its endpoint, the
name of the environment variable holding its API key (never the key itself),
its state file, its request spacing and its deletion limit. Everything is
validated when the file is read, with file:line:column for every problem.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .epoptia.profile import DEFAULT_PROFILE, WireProfile
from .epoptia.settings import NO_SPACING, REAL_TENANT_SPACING, RetryPolicy, Spacing
from .errors import ConfigError, ManifestError
from .load import load_yaml_model
from .relay.config import RelayConfig
from .windows import ApplyWindows

CONFIG_FILE = "reconciler.yaml"
EMULATOR = "emulator"
_TARGET_NAME = re.compile(r"\w[\w.-]{0,63}")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeleteLimit(_Config):
    """How many deletions a plan may hold without --allow-mass-delete: the larger of a count and a share."""

    count: Annotated[int, Field(ge=0)] = 10
    percent: Annotated[float, Field(ge=0, le=100)] = 10.0

    def allowed(self, managed: int) -> int:
        return max(self.count, math.floor(managed * self.percent / 100))


class Target(_Config):
    endpoint: Annotated[str, Field(min_length=1)]
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "EPOPTIA_API_KEY"
    state: Annotated[str, Field(min_length=1)]
    throttle: Spacing | None = None
    delete_limit: DeleteLimit = DeleteLimit()
    timeout: Annotated[float, Field(gt=0)] = 120.0
    retries: RetryPolicy | None = None
    # Overrides of the wire profile (reconciler/epoptia/profile.py) for this target.
    profile: dict[str, Any] | None = None
    apply_windows: ApplyWindows | None = None
    # Workstation names -> Epoptia ids, for `station` and the relay (the list names workstations only).
    workstations: dict[Annotated[str, Field(min_length=1)], Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    relay: RelayConfig | None = None
    # A production tenant: an apply that deletes or archives asks for the target's name, not just `yes`.
    protected: bool = False

    # http:// sends the API key in clear text: allowed to loopback (an emulator), elsewhere only when said.
    insecure: bool = False

    @model_validator(mode="after")
    def _endpoint_shape(self) -> Target:
        if self.endpoint != EMULATOR and not self.endpoint.startswith(("https://", "http://")):
            raise ValueError(f"endpoint {self.endpoint!r} must be 'emulator' or a URL such as https://acme.epoptia.io")
        if self.endpoint.startswith("http://") and not self.insecure:
            host = urlsplit(self.endpoint).hostname or ""
            if host not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(
                    f"endpoint {self.endpoint!r} is plain http: the API key would cross the network in clear text; "
                    "use https://, or set `insecure: true` on the target if you really mean it"
                )
        return self

    @field_validator("profile")
    @classmethod
    def _profile_merges(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            DEFAULT_PROFILE.merged(value)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"invalid wire profile override: {where}: {first['msg']}") from None
        return value

    @property
    def is_emulator(self) -> bool:
        return self.endpoint == EMULATOR

    @property
    def wire_profile(self) -> WireProfile:
        return DEFAULT_PROFILE.merged(self.profile)

    @property
    def spacing(self) -> Spacing:
        if self.throttle is not None:
            return self.throttle
        return NO_SPACING if self.is_emulator else REAL_TENANT_SPACING

    @property
    def retry_policy(self) -> RetryPolicy:
        if self.retries is not None:
            return self.retries
        return RetryPolicy(backoff=0.05) if self.is_emulator else RetryPolicy()


class Config(_Config):
    manifests: str = "manifests"
    default_target: str
    targets: Annotated[dict[str, Target], Field(min_length=1)]
    # Paths in this file stay inside the repository (a cloned repository cannot make the reconciler
    # read or write elsewhere), unless this says otherwise.
    paths_outside_repository: bool = False

    @field_validator("targets")
    @classmethod
    def _target_names(cls, value: dict[str, Target]) -> dict[str, Target]:
        # A target's name is part of file names (.reconciler/journal/<name>.json, its halt, its emulator):
        # a name with a path in it ("../../x") would have the reconciler write outside the repository.
        for name in value:
            if not _TARGET_NAME.fullmatch(name):
                raise ValueError(
                    f"target name {name[:60]!r} cannot be used: it is part of file names, so it takes "
                    "letters, digits, '_', '-' and '.' (not first), at most 64"
                )
        return value

    @model_validator(mode="after")
    def _default_exists(self) -> Config:
        if self.default_target not in self.targets:
            raise ValueError(
                f"default_target {self.default_target!r} is not one of the targets: {', '.join(self.targets)}"
            )
        return self


def find_config(start: Path) -> Path:
    """reconciler.yaml in ``start`` or the nearest folder above it, the way git finds .git."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} in {start} or any folder above it",
        hint=f"run from your manifests repository, or pass --config PATH; the README shows a minimal {CONFIG_FILE}",
    )


def load_config(path: Path) -> Config:
    try:
        return load_yaml_model(path, Config, "configuration file")  # type: ignore[return-value]
    except ManifestError as error:
        raise ConfigError(error.message, hint=error.hint) from None
