"""Credit score: overdue orders and repeated hazards cost points, clean periods give them back."""

from __future__ import annotations

from alarms.manager import AlarmManager
from alarms.settings import AlarmSettings, CreditSettings
from core.alarms import Severity
from tests.alarms.support import DAY, HOUR, MIN, T0, fire, manager, resolve

WEEK = 7 * DAY


def overdue_order(mgr: AlarmManager, i: int, start: int) -> str:
    """An emergency order for pm-1 (rule r<i> on co-1) left to go overdue; its id."""
    alarm = mgr.on_signal(fire(Severity.EMERGENCY, ts=start, rule=f"r{i}"))
    assert alarm is not None and alarm.work_order_id is not None
    mgr.tick(start + HOUR)  # the emergency order's deadline
    return alarm.work_order_id


def close(mgr: AlarmManager, order_id: str, ts: int) -> None:
    mgr.sign_work_order(order_id, "u", now_ms=ts)
    mgr.assign_work_order(order_id, "u", "v", now_ms=ts)
    mgr.handle_work_order(order_id, "v", "fixed", now_ms=ts)
    mgr.verify_work_order(order_id, "g", ok=True, now_ms=ts)
    mgr.close_work_order(order_id, "g", now_ms=ts)


def test_overdue_orders_push_a_party_onto_key_supervision_then_training() -> None:
    mgr, _ = manager()
    assert {c.party_id: c.score for c in mgr.credit_scores()} == {"pm-1": 100, "pm-2": 100, "owner-b2": 100}
    seen = []
    for i in range(9):
        overdue_order(mgr, i, T0 + i * 2 * HOUR)
        seen.append(
            (
                mgr.credit.score("pm-1"),
                [c.party_id for c in mgr.key_supervision()],
                [c.party_id for c in mgr.training_required()],
            )
        )
    assert seen == [
        (95, [], []),
        (90, [], []),
        (85, [], []),
        (80, [], []),  # at 80 exactly: not below
        (75, ["pm-1"], []),
        (70, ["pm-1"], []),
        (65, ["pm-1"], []),
        (60, ["pm-1"], []),
        (55, ["pm-1"], ["pm-1"]),
    ]
    [standing] = mgr.training_required()
    assert standing.name == "澜景物业" and standing.key_supervision and standing.training_required
    assert mgr.credit_scores()[0].party_id == "pm-1"  # lowest first


def test_credit_events_carry_reasons_and_the_orders() -> None:
    mgr, _ = manager()
    orders = [overdue_order(mgr, i, T0 + i * 2 * HOUR) for i in range(5)]
    events = mgr.credit_history("pm-1")
    assert [(e.delta, e.score_after, e.work_order_id) for e in events] == [
        (-5, 95, orders[0]),
        (-5, 90, orders[1]),
        (-5, 85, orders[2]),
        (-5, 80, orders[3]),
        (-5, 75, orders[4]),
    ]
    assert events[-1].ts == T0 + 8 * HOUR + HOUR
    assert events[-1].reason.startswith(f"work order {orders[-1]} overdue: 一氧化碳超标 · 1栋B1地下车库")
    assert events[-1].reason.endswith("(now below 80: key-supervision list)")


def test_repeated_hazard_at_the_same_place_within_the_window_costs_points() -> None:
    mgr, _ = manager()
    mgr.on_signal(fire(Severity.WARNING, ts=T0))
    mgr.on_signal(resolve(ts=T0 + 5 * MIN))
    assert mgr.credit.score("pm-1") == 100
    mgr.on_signal(fire(Severity.WARNING, ts=T0 + 2 * DAY))  # same rule, same garage, 2 days later
    assert mgr.credit.score("pm-1") == 98
    mgr.on_signal(resolve(ts=T0 + 2 * DAY + 5 * MIN))
    mgr.on_signal(fire(Severity.WARNING, ts=T0 + 3 * DAY, source="co-2"))  # other sensor, same place
    assert mgr.credit.score("pm-1") == 96
    mgr.on_signal(fire(Severity.WARNING, ts=T0 + 3 * DAY, rule="co-rise"))  # another rule: not a repeat
    mgr.on_signal(fire(Severity.WARNING, ts=T0 + 12 * DAY, source="lel-1", rule="co-high"))  # other place
    assert mgr.credit.score("pm-1") == 96 and mgr.credit.score("owner-b2") == 100
    mgr.on_signal(resolve(ts=T0 + 3 * DAY + MIN, source="co-2"))
    mgr.on_signal(fire(Severity.WARNING, ts=T0 + 11 * DAY, source="co-2"))  # 8 days on: outside
    assert mgr.credit.score("pm-1") == 96


def test_panic_presses_are_never_repeated_hazards() -> None:
    mgr, _ = manager()
    for day in range(3):
        mgr.on_signal(
            fire(Severity.ALARM, ts=T0 + day * DAY, source="panic-1", rule="panic", category="panic")
        )
        mgr.on_signal(resolve(ts=T0 + day * DAY + MIN, source="panic-1", rule="panic", category="panic"))
    assert mgr.credit.score("pm-1") == 100


def test_recovery_one_point_per_clean_week_capped_and_not_while_overdue() -> None:
    settings = AlarmSettings(credit=CreditSettings(overdue_deduction=1.5))
    mgr, _ = manager(settings)
    order_a = overdue_order(mgr, 0, T0)
    order_b = overdue_order(mgr, 1, T0)
    assert mgr.credit.score("pm-1") == 97
    mgr.tick(T0 + HOUR + 2 * WEEK)  # both orders still open and overdue: nothing comes back
    assert mgr.credit.score("pm-1") == 97
    close(mgr, order_a, T0 + 2 * WEEK + 2 * HOUR)
    close(mgr, order_b, T0 + 2 * WEEK + 2 * HOUR)
    restart = T0 + 2 * WEEK + 2 * HOUR  # closing the last overdue order starts a clean period
    mgr.tick(restart + WEEK - 1)
    assert mgr.credit.score("pm-1") == 97
    mgr.tick(restart + WEEK)
    assert mgr.credit.score("pm-1") == 98
    mgr.tick(restart + 10 * WEEK)
    assert mgr.credit.score("pm-1") == 100  # capped at the initial score
    recovered = [e for e in mgr.credit_history("pm-1") if e.delta > 0]
    assert [(e.delta, e.reason) for e in recovered] == [(1, "recovered: a clean period")] * 3
    assert [e.ts for e in recovered] == [restart + WEEK, restart + 2 * WEEK, restart + 3 * WEEK]
