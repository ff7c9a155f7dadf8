"""Active alarms roll up the twin: space -> floor -> building -> site."""

from __future__ import annotations

from alarms.places import PlaceStatus, floor_key
from core.alarms import Severity, SignalKind
from tests.alarms.support import MIN, T0, fire, manager, resolve, signal


def test_worst_active_severity_and_count_for_every_level() -> None:
    mgr, _ = manager()
    mgr.on_signal(fire(Severity.WARNING, ts=T0, source="co-1"))
    mgr.on_signal(fire(Severity.ALARM, ts=T0, source="co-2"))
    mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source="panic-1", rule="panic", category="panic"))
    mgr.on_signal(fire(Severity.WARNING, ts=T0, source="lel-1", rule="lel-high"))
    mgr.on_signal(fire(Severity.WARNING, ts=T0, source="cam-1", rule="cam-helmet", category="camera"))
    mgr.on_signal(
        signal(SignalKind.PENDING, Severity.EMERGENCY, ts=T0, source="h2s-1", rule="h2s")
    )  # not active
    mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source="co-1", rule="co-rise"))
    mgr.on_signal(resolve(ts=T0 + MIN, source="co-1", rule="co-rise"))  # cleared: gone from the map

    worst = mgr.worst_by_place()
    assert worst.spaces == {
        "b1-garage": PlaceStatus(worst=Severity.ALARM, active=2),
        "b1-lobby": PlaceStatus(worst=Severity.EMERGENCY, active=1),
        "b2-shop": PlaceStatus(worst=Severity.WARNING, active=1),
        "s1-yard": PlaceStatus(worst=Severity.WARNING, active=1),
    }
    assert worst.floors == {
        floor_key("b1", -1): PlaceStatus(worst=Severity.ALARM, active=2),
        floor_key("b1", 1): PlaceStatus(worst=Severity.EMERGENCY, active=1),
        floor_key("b2", 1): PlaceStatus(worst=Severity.WARNING, active=1),
    }
    assert worst.buildings == {
        "b1": PlaceStatus(worst=Severity.EMERGENCY, active=3),
        "b2": PlaceStatus(worst=Severity.WARNING, active=1),
    }
    assert worst.sites == {"s1": PlaceStatus(worst=Severity.EMERGENCY, active=5)}
    assert floor_key("b1", -1) == "b1/-1"


def test_severity_changes_and_clearing_move_the_roll_up() -> None:
    mgr, _ = manager()
    mgr.on_signal(fire(Severity.WARNING, ts=T0, source="h2s-1", rule="h2s"))
    assert mgr.worst_by_place().sites["s2"] == PlaceStatus(worst=Severity.WARNING, active=1)
    mgr.on_signal(fire(Severity.ALARM, ts=T0 + MIN, source="h2s-1", rule="h2s"))
    assert mgr.worst_by_place().spaces["s2-well"].worst is Severity.ALARM
    mgr.on_signal(resolve(ts=T0 + 2 * MIN, source="h2s-1", rule="h2s"))
    assert mgr.worst_by_place().sites == {}
