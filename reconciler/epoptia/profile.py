"""The wire profile: method, path and envelope of every Epoptia operation, as data.

Epoptia's public docs stop before the paths of most write calls (EPOPTIA_API.md),
so every path and envelope that is our assumption lives here and nowhere else.
Both the client and the emulator read a profile; a target in reconciler.yaml
can override any part of it, so a user can point the reconciler at a real
tenant's paths without a release:

    targets:
      production:
        endpoint: https://acme.epoptia.io
        profile:
          operations:
            archive_lines: {path: /api/3.03/workorderlines/history}
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Operation(str, enum.Enum):
    LIST_LINES = "list_lines"
    UPSERT_LINES = "upsert_lines"
    DELETE_LINES = "delete_lines"
    ARCHIVE_LINES = "archive_lines"
    UPSERT_CLIENTS = "upsert_clients"
    UPSERT_PRODUCTS = "upsert_products"
    WORKFLOW_TEMPLATES = "workflow_templates"
    WORKSTATION_CONTROL = "workstation_control"
    OPERATOR_LOGIN = "operator_login"
    OPERATOR_LOGOUT = "operator_logout"


class Grade(str, enum.Enum):
    """How sure we are of an endpoint (EPOPTIA_API.md's grades)."""

    CONFIRMED = "confirmed"
    DOCUMENTED = "documented"
    ASSUMED = "assumed"


class Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["GET", "POST"]
    path: Annotated[str, Field(pattern=r"^/")]
    # Key that wraps the rows of a request body ({"data": [...]}), or None for a plain object.
    envelope: str | None = "data"
    grade: Grade = Grade.ASSUMED
    # False where `reconciler doctor` found the tenant does not answer it: the plan
    # then blocks what would need it, instead of failing in the middle of an apply.
    enabled: bool = True


class ListIds(str, enum.Enum):
    """Which ids the list of lines carries in workorderline_id and workorder.id (not known for a real tenant)."""

    ERP = "erp"  # the ERP ids we sent
    EPOPTIA = "epoptia"  # Epoptia's own ids, as write answers return them


# What the list of lines carries, in the manifests' terms (EPOPTIA_API.md, "What a real tenant's list looks
# like"). Fields outside a target's observable set are write-only: the state is their only record, and they
# never appear in drift, read-back or staleness.
CONFIRMED_FIELDS = frozenset(
    {
        "description",
        "quantity",
        "target_day",
        "comments",
        "custom_fields",
        "product",
        "workorder",
        "routing.workstation",
        "routing.job_task",
        "work_order.client",
    }
)
ALL_FIELDS = CONFIRMED_FIELDS | {
    "code",
    "tags",
    "files",
    "bom",
    "over_under_percentage",
    "workflow",
    "routing.bom",
    "routing.custom_fields",
    "work_order.code",
    "work_order.comments",
    "work_order.files",
}


class WireProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_version: str = "3.03"
    auth_header: str = "X-Auth-Token"
    operator_header: str = "Operator-Token"
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    # Rows per write request: big enough that 10,000 lines are a few dozen calls,
    # small enough that one call stays well under a minute on a real tenant.
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 200
    # Our own choice, since Epoptia's write responses are not public: each write
    # answers {"results": [{"id": ..., "result": created|updated|unchanged|
    # deleted|archived|not_found|rejected|alarm, "reason": ..., "alarm": ...}]}.
    # None: the tenant's answers carry no per-row results; a 2xx means "sent" and
    # the read-back of observable fields decides.
    results_key: str | None = "results"
    # Which line fields the list returns (see CONFIRMED_FIELDS); a tenant that returns more can say so.
    observable: frozenset[str] = CONFIRMED_FIELDS
    list_ids: ListIds = ListIds.ERP
    # Rule 6: unnamed workstations and job tasks get automatic names. How Epoptia
    # spells them is not public; reading a line back, a name that matches these
    # patterns at its position means "left unnamed".
    auto_workstation_name: str = "Workstation {n}"
    auto_job_task_name: str = "Job task {n}"
    operations: dict[Operation, Endpoint]

    @field_validator("observable")
    @classmethod
    def _known_fields(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - ALL_FIELDS)
        if unknown:
            raise ValueError(f"unknown observable field {unknown[0]!r}; known: {', '.join(sorted(ALL_FIELDS))}")
        return value

    def endpoint(self, operation: Operation) -> Endpoint:
        return self.operations[operation]

    def sees(self, field: str) -> bool:
        """Whether the list of lines returns ``field`` (a name from ALL_FIELDS)."""
        return field in self.observable

    def merged(self, override: dict[str, Any] | None) -> WireProfile:
        """This profile with a target's overrides applied (operations merge per field)."""
        if not override:
            return self
        data = self.model_dump(mode="json")
        for key, value in override.items():
            if key == "operations" and isinstance(value, dict):
                for op, fields in value.items():
                    base = data["operations"].get(op)
                    data["operations"][op] = {**base, **fields} if base and isinstance(fields, dict) else fields
            else:
                data[key] = value
        return WireProfile.model_validate(data)


def _api(path: str) -> str:
    return f"/api/3.03/{path}"


DEFAULT_PROFILE = WireProfile(
    operations={
        Operation.LIST_LINES: Endpoint(method="GET", path=_api("workorderlines"), envelope=None, grade=Grade.CONFIRMED),
        Operation.UPSERT_LINES: Endpoint(method="POST", path=_api("workorderlines"), grade=Grade.DOCUMENTED),
        Operation.DELETE_LINES: Endpoint(method="POST", path=_api("workorderlines/delete")),
        Operation.ARCHIVE_LINES: Endpoint(method="POST", path=_api("workorderlines/archive")),
        Operation.UPSERT_CLIENTS: Endpoint(method="POST", path=_api("clients")),
        Operation.UPSERT_PRODUCTS: Endpoint(method="POST", path=_api("products")),
        Operation.WORKFLOW_TEMPLATES: Endpoint(method="GET", path=_api("workflows/templates"), envelope=None),
        Operation.WORKSTATION_CONTROL: Endpoint(method="POST", path=_api("workstations/control"), envelope=None),
        Operation.OPERATOR_LOGIN: Endpoint(method="POST", path=_api("operators/login"), envelope=None),
        Operation.OPERATOR_LOGOUT: Endpoint(method="POST", path=_api("operators/logout"), envelope=None),
    }
)
