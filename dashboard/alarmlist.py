"""The live alarm list of the map page, with acknowledge and assign buttons that POST to the API."""

from __future__ import annotations

from typing import Any

import dash
import httpx
from dash import ALL, Input, Output, State, html

from dashboard.client import ApiClient, ApiError, Json
from dashboard.fmt import data_attrs, fmt_duration
from dashboard.i18n import t, word
from dashboard.twincache import Names

OPEN_STATES = ("active", "pending", "no_data", "error")
ROWS = 60  # rows drawn; the rest are counted
_RANK = {"emergency": 3, "alarm": 2, "warning": 1}


def sort_alarms(alarms: list[Json]) -> list[Json]:
    """Worst first, then active before the rest, then newest."""
    return sorted(
        alarms,
        key=lambda a: (-_RANK.get(a["severity"], 0), a["state"] != "active", -int(a["updated_ts"])),
    )


def place_text(alarm: Json, names: Names) -> str:
    """The two most specific of site · building · space that the alarm names."""
    parts = [alarm.get("site", ""), alarm.get("building", ""), alarm.get("space", "")]
    return " · ".join([names.name(p) for p in parts if p][-2:])


def unacked_emergencies(alarms: list[Json]) -> list[str]:
    """Ids of active emergencies nobody has acknowledged: they flash and sound."""
    return sorted(
        a["id"]
        for a in alarms
        if a["severity"] == "emergency" and a["state"] == "active" and not a.get("acknowledged_ts")
    )


def _buttons(alarm: Json, lang: str) -> html.Td:
    acked = bool(alarm.get("acknowledged_ts"))
    ack: Any = (
        html.Span(f"✓ {alarm.get('acknowledged_by') or ''}", className="acked", title=t("acked", lang))
        if acked
        else html.Button(t("ack", lang), id={"type": "ack", "alarm": alarm["id"]}, className="btn ack")
    )
    assign = html.Button(
        t("assign", lang), id={"type": "assign", "alarm": alarm["id"]}, className="btn assign"
    )
    return html.Td([ack, assign], className="actions")


def alarm_row(alarm: Json, names: Names, now_ms: int, lang: str, act: bool = True) -> html.Tr:
    """One alarm: severity, place, rule, age, state, assignee, actions (for users who may act)."""
    sev = alarm["severity"]
    since = alarm.get("active_ts") or alarm["created_ts"]
    acked = "acked" if alarm.get("acknowledged_ts") else "unacked"
    return html.Tr(
        [
            html.Td(html.Span(word("severity", sev, lang), className=f"sev {sev}"), className="severity"),
            html.Td(
                place_text(alarm, names),
                className="place",
                title=f"{names.name(alarm['site'])} · {names.name(alarm['source_id'])}",
            ),
            html.Td(alarm["rule_name"], className="rule", title=alarm.get("message", "")),
            html.Td(fmt_duration((now_ms - since) / 1000), className="age"),
            html.Td(word("state", alarm["state"], lang), className="state"),
            html.Td(alarm.get("assignee") or "–", className="assignee"),
            _buttons(alarm, lang) if act else html.Td(className="actions"),
        ],
        className=f"alarm-row sev-{sev} st-{alarm['state']} {acked}",
        **data_attrs(alarm=alarm["id"], state=alarm["state"], severity=sev),
    )


def alarm_table(
    alarms: list[Json], total: int, names: Names, now_ms: int, lang: str, act: bool = True
) -> list[Any]:
    """The list's table, worst first; a note when there are more than are drawn."""
    if not alarms:
        return [html.P(t("alarms.none", lang), className="muted empty")]
    ordered = sort_alarms(alarms)
    head = html.Tr(
        [html.Th(t(f"col.{c}", lang)) for c in ("severity", "place", "rule", "age", "state", "assignee")]
        + [html.Th("")]
    )
    rows = [alarm_row(a, names, now_ms, lang, act) for a in ordered[:ROWS]]
    out: list[Any] = [html.Table([html.Thead(head), html.Tbody(rows)], className="alarm-table")]
    if total > ROWS:
        out.append(html.P(t("alarms.more", lang, n=f"{total - ROWS:,}"), className="muted more"))
    return out


def register_alarm_actions(app: dash.Dash, client: ApiClient) -> None:
    """Acknowledge / assign clicks → POST /alarms/{id}/acknowledge|assign with the operator's name."""

    def act(
        _acks: list[int | None], _assigns: list[int | None], user: str | None, assignee: str | None, lang: str
    ) -> tuple[Any, Any]:
        trigger = dash.ctx.triggered_id
        clicked = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        # Rows are redrawn every refresh; a redrawn button "triggers" with no clicks: not an action.
        if not isinstance(trigger, dict) or not clicked:
            return dash.no_update, dash.no_update
        operator = (user or "").strip()
        if not operator:
            return t("need.operator", lang), "action-msg bad"
        alarm_id = str(trigger["alarm"])
        try:
            if trigger["type"] == "ack":
                client.acknowledge(alarm_id, operator)
                return f"{t('done.ack', lang)} ({alarm_id})", "action-msg ok"
            who = (assignee or "").strip()
            if not who:
                return t("need.assignee", lang), "action-msg bad"
            client.assign(alarm_id, operator, who)
            return t("done.assign", lang, who=who), "action-msg ok"
        except (ApiError, httpx.HTTPError) as err:
            return str(err), "action-msg bad"

    app.callback(
        Output("action-msg", "children"),
        Output("action-msg", "className"),
        Input({"type": "ack", "alarm": ALL}, "n_clicks"),
        Input({"type": "assign", "alarm": ALL}, "n_clicks"),
        State("operator", "value"),
        State("assignee", "value"),
        State("lang", "data"),
        prevent_initial_call=True,
    )(act)
