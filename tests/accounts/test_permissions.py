"""What each path and method needs: the table as data, the longer pattern first, closed by default."""

from __future__ import annotations

import pytest

from accounts.roles import ALL, Role, allows, permissions_of
from api.auth import ANY, needed_permission


@pytest.mark.parametrize(
    ("path", "method", "needed"),
    [
        ("/devices", "GET", "twin:read"),
        ("/devices/fan-1/commands", "POST", "actuators:command"),
        ("/devices/fan-1", "DELETE", ALL),
        ("/alarms/a1/acknowledge", "POST", "alarms:act"),
        ("/sites/s1/roster", "POST", "vision:act"),
        ("/sites/s1", "GET", "twin:read"),
        ("/rules/r1/overrides", "POST", "rules:override"),
        ("/rules", "POST", "rules:write"),
        ("/users", "GET", "users:admin"),
        ("/auth/me", "GET", ANY),
        ("/ingest/telemetry", "POST", "ingest:write"),
        ("/something-new", "GET", ALL),  # a path nobody has classified is the administrator's
    ],
)
def test_needed_permission(path: str, method: str, needed: str) -> None:
    assert needed_permission(path, method) == needed


@pytest.mark.parametrize("role", list(Role))
def test_every_role_but_the_administrator_is_refused_an_unclassified_path(role: Role) -> None:
    assert allows(permissions_of(role), needed_permission("/something-new", "GET")) == (
        role is Role.ADMINISTRATOR
    )
