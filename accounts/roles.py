"""Roles and what each may do, as data: a role is a set of permissions, checked by name."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who a person (or an integration) is to SafeTwin."""

    ADMINISTRATOR = "administrator"  # everything, including accounts
    OPERATOR = "operator"  # operations-centre big screen: sees all, handles alarms, commands actuators
    OFFICER = "officer"  # department officer: sees all, handles orders, edits rules, reads the audit log
    FACILITY_MANAGER = "facility_manager"  # own sites / buildings only
    ENTERPRISE = "enterprise"  # own tenant (the party responsible for a site or building) only
    VIEWER = "viewer"  # sees all, changes nothing
    INTEGRATION = "integration"  # devices and systems that push telemetry over HTTP


ALL = "*"

_READ = frozenset(
    {
        "twin:read",
        "alarms:read",
        "workorders:read",
        "actuators:read",
        "vision:read",
        "permits:read",
        "stream:read",
    }
)
_CENTRE_READ = _READ | {"system:read", "rules:read", "parties:read"}
_HANDLE = frozenset({"alarms:act", "workorders:act", "permits:act"})

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMINISTRATOR: frozenset({ALL}),
    Role.OPERATOR: _CENTRE_READ | _HANDLE | {"actuators:command", "vision:act"},
    Role.OFFICER: _CENTRE_READ | _HANDLE | {"rules:write", "rules:override", "vision:act", "audit:read"},
    Role.FACILITY_MANAGER: _READ | _HANDLE | {"actuators:command", "vision:act", "rules:override"},
    Role.ENTERPRISE: _READ | _HANDLE,
    Role.VIEWER: _CENTRE_READ,
    Role.INTEGRATION: frozenset({"ingest:write", "twin:read"}),
}

# Roles that see only part of the twin, and what scopes them.
SITE_SCOPED = frozenset({Role.FACILITY_MANAGER})
TENANT_SCOPED = frozenset({Role.ENTERPRISE})


def permissions_of(role: Role) -> frozenset[str]:
    """The permissions a role grants."""
    return PERMISSIONS[role]


def allows(granted: frozenset[str], permission: str) -> bool:
    """Whether a set of permissions includes `permission` (the administrator's '*' includes all)."""
    return ALL in granted or permission in granted


def is_scoped(role: Role) -> bool:
    """Whether the role sees only part of the twin."""
    return role in SITE_SCOPED or role in TENANT_SCOPED
