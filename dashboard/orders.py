"""The work-order board: open orders by step, with deadline countdowns, overdue and escalation level."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.client import Json
from dashboard.fmt import data_attrs, fmt_duration
from dashboard.i18n import t, word
from dashboard.twincache import Names

COLUMNS = ("created", "signed", "assigned", "handled", "verified", "closed")


def countdown(order: Json, now_ms: int, lang: str) -> tuple[str, str]:
    """(text, tone): time left to the deadline, or how long it is overdue."""
    if order["state"] == "closed":
        return word("state", "closed", lang), "done"
    left_s = (int(order["deadline_ts"]) - now_ms) / 1000
    if left_s < 0 or order.get("overdue"):
        return t("orders.overdue", lang, t=fmt_duration(-left_s if left_s < 0 else 0)), "overdue"
    return t("orders.left", lang, t=fmt_duration(left_s)), "soon" if left_s < 900 else "ok"


def order_card(order: Json, names: Names, now_ms: int, lang: str) -> html.Div:
    """One order: severity, title, place, party, countdown, escalation, assignee."""
    text, tone = countdown(order, now_ms, lang)
    place = " · ".join(
        names.name(p) for p in (order.get("site"), order.get("building"), order.get("space")) if p
    )
    lines: list[Any] = [
        html.Div(
            [
                html.Span(word("severity", order["severity"], lang), className=f"sev {order['severity']}"),
                html.Span(order["title"], className="order-title"),
            ],
            className="order-head",
        ),
        html.Div(place, className="order-place"),
        html.Div(
            [
                html.Span(names.name(order.get("party_id") or ""), className="order-party"),
                html.Span(order.get("assignee") or "", className="order-assignee"),
            ],
            className="order-meta",
        ),
        html.Div(text, className=f"countdown {tone}"),
    ]
    if order.get("escalation_level"):
        lines.append(
            html.Div(
                t(
                    "orders.escalated",
                    lang,
                    n=order["escalation_level"],
                    to=names.name(order.get("escalated_to") or ""),
                ),
                className="escalation",
            )
        )
    return html.Div(lines, className=f"order-card {tone}", **data_attrs(order=order["id"], tone=tone))


def order_board(orders: list[Json], names: Names, now_ms: int, lang: str) -> list[Any]:
    """One column per step; overdue orders first in each column, then the nearest deadline."""
    if not orders:
        return [html.P(t("orders.none", lang), className="muted empty")]
    cols = []
    for state in COLUMNS:
        mine = sorted(
            (o for o in orders if o["state"] == state),
            key=lambda o: (not o.get("overdue"), int(o["deadline_ts"])),
        )
        cols.append(
            html.Section(
                [
                    html.H3(f"{word('state', state, lang)} ({len(mine)})"),
                    *[order_card(o, names, now_ms, lang) for o in mine],
                ],
                className="order-col",
            )
        )
    return [html.Div(cols, className="order-board")]
