"""Scopes: what a facility manager and an enterprise see of the twin, and what roles may do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accounts.models import UserIn
from accounts.ratelimit import LoginLimiter
from accounts.roles import Role, allows, permissions_of
from accounts.scope import site_scope, tenant_scope
from twin.twin import Twin


def test_a_site_gives_its_buildings_and_its_outdoor_spaces(twin: Twin) -> None:
    scope = site_scope(twin, ["a"], [])
    assert scope.sees_place("a", "a-b1") and scope.sees_place("a", "a-b2") and scope.sees_place("a")
    assert not scope.sees_place("c", "c-b1") and not scope.sees_site("c")


def test_a_building_gives_only_that_building(twin: Twin) -> None:
    scope = site_scope(twin, [], ["a-b1"])
    assert scope.sees_site("a") and scope.sees_place("a", "a-b1")
    assert not scope.sees_place("a", "a-b2") and not scope.sees_place("a")  # nor the septic tank


def test_unknown_places_give_nothing(twin: Twin) -> None:
    scope = site_scope(twin, ["nowhere"], ["no-building"])
    assert not scope.visible_sites and not scope.buildings


def test_an_enterprise_sees_the_places_it_answers_for(twin: Twin) -> None:
    owner = tenant_scope(twin, "pm-a")
    assert owner.sees_place("a", "a-b1") and owner.sees_place("a")
    assert not owner.sees_place("a", "a-b2")  # that building has its own responsible party
    shop = tenant_scope(twin, "shop-b")
    assert shop.sees_place("a", "a-b2") and not shop.sees_place("a", "a-b1") and not shop.sees_place("a")


def test_roles_as_data() -> None:
    assert allows(permissions_of(Role.ADMINISTRATOR), "users:admin")
    viewer = permissions_of(Role.VIEWER)
    assert allows(viewer, "alarms:read") and not any(
        p.endswith((":act", ":command", ":write")) for p in viewer
    )
    assert allows(permissions_of(Role.FACILITY_MANAGER), "actuators:command")
    assert not allows(permissions_of(Role.OPERATOR), "users:admin")


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "facility_manager"},  # no site or building
        {"role": "enterprise"},  # no tenant
        {"role": "operator", "sites": ["a"]},  # an unscoped role with a scope
    ],
)
def test_role_and_scope_must_fit(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UserIn.model_validate({"username": "x", "password": "a-long-password", **fields})


def test_limiter_locks_for_the_window_then_lets_in() -> None:
    now = [0.0]
    limiter = LoginLimiter(2, 60, clock=lambda: now[0])
    limiter.failed("u", "ip")
    assert limiter.retry_after("u", "ip") == 0
    limiter.failed("U", "ip")  # names are compared without case
    assert limiter.retry_after("u", "ip") == 60
    now[0] = 60.5
    assert limiter.retry_after("u", "ip") == 0


def test_limiter_locks_an_address_that_tries_many_names() -> None:
    now = [0.0]
    limiter = LoginLimiter(2, 60, clock=lambda: now[0])
    for i in range(19):
        limiter.failed(f"user-{i}", "10.0.0.7")
    assert limiter.retry_after("fresh-name", "10.0.0.7") == 0
    limiter.failed("user-19", "10.0.0.7")
    assert limiter.retry_after("fresh-name", "10.0.0.7") == 60
    assert limiter.retry_after("fresh-name", "10.0.0.8") == 0
