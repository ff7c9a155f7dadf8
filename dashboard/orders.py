"""The work-order board: open orders by step, with deadline countdowns, overdue and escalation level.

For users with 'workorders:act' each card carries the next steps of its flow (sign for, assign,
submit for verification, verify or send back, close) as buttons that POST to /work-orders/{id}/{step}.
"""

from __future__ import annotations

from typing import Any

import dash
import httpx
from dash import ALL, Input, Output, State, dcc, html

from dashboard.client import ApiClient, ApiError, Json
from dashboard.fmt import data_attrs, fmt_duration
from dashboard.i18n import lang_of, t, word
from dashboard.twincache import Names

COLUMNS = ("created", "signed", "assigned", "handled", "verified", "closed")
# state -> the buttons of its next steps: (button, API step)
NEXT_STEPS: dict[str, tuple[tuple[str, str], ...]] = {
    "created": (("sign", "sign"),),
    "signed": (("assign", "assign"),),
    "assigned": (("handle", "handle"),),
    "handled": (("verify", "verify"), ("reject", "verify")),
    "verified": (("close", "close"),),
}


def step_buttons(order: Json, lang: str) -> html.Div:
    """The next steps of the order's flow as buttons."""
    return html.Div(
        [
            html.Button(
                t(f"step.{button}", lang),
                id={"type": "order-step", "order": order["id"], "button": button},
                className=f"btn step {button}",
                **data_attrs(step=button),
            )
            for button, _step in NEXT_STEPS.get(order["state"], ())
        ],
        className="order-steps",
    )


def step_body(button: str, user: str, assignee: str, note: str) -> Json:
    """The API body of a step button; the handler defaults to the operator."""
    body: Json = {"user": user}
    if note:
        body["note"] = note
    if button == "assign":
        body["assignee"] = assignee or user
    if button in ("verify", "reject"):
        body["ok"] = button == "verify"
    return body


def countdown(order: Json, now_ms: int, lang: str) -> tuple[str, str]:
    """(text, tone): time left to the deadline, or how long it is overdue."""
    if order["state"] == "closed":
        return word("state", "closed", lang), "done"
    left_s = (int(order["deadline_ts"]) - now_ms) / 1000
    if left_s < 0 or order.get("overdue"):
        return t("orders.overdue", lang, t=fmt_duration(-left_s if left_s < 0 else 0)), "overdue"
    return t("orders.left", lang, t=fmt_duration(left_s)), "soon" if left_s < 900 else "ok"


def order_card(order: Json, names: Names, now_ms: int, lang: str, act: bool = False) -> html.Div:
    """One order: severity, title, place, party, countdown, escalation, assignee (and its steps)."""
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
    if act:
        lines.append(step_buttons(order, lang))
    return html.Div(lines, className=f"order-card {tone}", **data_attrs(order=order["id"], tone=tone))


def order_board(orders: list[Json], names: Names, now_ms: int, lang: str, act: bool = False) -> list[Any]:
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
                    *[order_card(o, names, now_ms, lang, act) for o in mine],
                ],
                className="order-col",
            )
        )
    return [html.Div(cols, className="order-board")]


def orders_frame(lang: str, refresh_ms: int) -> html.Div:
    """The board's page: handler and note fields (kept while the board refreshes), answers, the board."""
    tools = html.Div(
        [
            dcc.Input(
                id="order-assignee",
                placeholder=t("orders.assignee", lang),
                persistence=True,
                persistence_type="local",
                debounce=False,
            ),
            dcc.Input(
                id="order-note",
                placeholder=f"{t('orders.note', lang)}: {t('orders.note.hint', lang)}",
                className="order-note",
                debounce=False,
            ),
            html.Div(id="order-msg", className="action-msg"),
        ],
        className="order-tools",
    )
    return html.Div(
        [
            html.H2(t("orders.title", lang)),
            tools,
            html.Div(id="orders-body"),
            dcc.Interval(id="orders-refresh", interval=refresh_ms),
        ],
        className="orders-page",
    )


def register_order_steps(app: dash.Dash, client: ApiClient) -> None:
    """Step buttons -> POST /work-orders/{id}/{step} as the operator; the answer above the board."""

    def act(
        _clicks: list[int | None], user: str | None, assignee: str | None, note: str | None, lang_value: str
    ) -> tuple[Any, Any]:
        lang = lang_of(lang_value)
        trigger = dash.ctx.triggered_id
        clicked = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        # Cards are redrawn every refresh; a redrawn button "triggers" with no clicks: not an action.
        if not isinstance(trigger, dict) or not clicked:
            return dash.no_update, dash.no_update
        operator = (user or "").strip()
        if not operator:
            return t("need.operator", lang), "action-msg bad"
        button, text = str(trigger["button"]), (note or "").strip()
        if button == "handle" and not text:
            return t("need.note", lang), "action-msg bad"
        step = dict(b for s in NEXT_STEPS.values() for b in s)[button]
        body = step_body(button, operator, (assignee or "").strip(), text)
        try:
            order = client.order_step(str(trigger["order"]), step, body)
        except (ApiError, httpx.HTTPError) as err:
            return str(err), "action-msg bad"
        return t(
            "step.done", lang, id=order["id"], state=word("state", order["state"], lang)
        ), "action-msg ok"

    app.callback(
        Output("order-msg", "children"),
        Output("order-msg", "className"),
        Input({"type": "order-step", "order": ALL, "button": ALL}, "n_clicks"),
        State("operator", "value"),
        State("order-assignee", "value"),
        State("order-note", "value"),
        State("lang", "data"),
        prevent_initial_call=True,
    )(act)
