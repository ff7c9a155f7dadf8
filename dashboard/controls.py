"""Actuator controls: fan, relay, valve and speaker commands posted to the API, with its answer shown.

The panel sits beside the drill-down and floor view, outside their 2 s refresh, so what a person types
is not redrawn away.  A command is POST /devices/{id}/commands with {action, params, reason,
expires_in_s} in the contract's vocabulary (core.contract.COMMAND_PARAMS), `expires_in_s` being how
long a manual override holds (none: a one-off that rules may change), sent as the operator named in
the top bar; the API checks interlocks and permissions and answers with the command's state or a
problem detail.
"""

from __future__ import annotations

from typing import Any

import dash
import httpx
from dash import ALL, Input, Output, State, dcc, html

from dashboard.access import ACTUATORS, allowed, permissions
from dashboard.client import ApiClient, ApiError, Json
from dashboard.fmt import data_attrs
from dashboard.i18n import lang_of, t, word

ACTUATOR_KINDS = ("fan", "relay", "valve", "speaker")
HOLDS_S = (0, 600, 1800, 7200)  # manual override: 0 one-off (rules may change it), else seconds held
PRESETS = ("evacuate", "keep_out", "ventilate", "wear_helmet")
# op -> (kind, action, fixed params); fields typed in the panel are added by command_body
OPS: dict[str, tuple[str, str, Json]] = {
    "fan-on": ("fan", "set", {"on": True}),
    "fan-off": ("fan", "set", {"on": False}),
    "relay-on": ("relay", "set", {"on": True}),
    "relay-off": ("relay", "set", {"on": False}),
    "valve-open": ("valve", "set", {"open": True}),
    "valve-shut": ("valve", "set", {"open": False}),
    "speaker-play": ("speaker", "play", {}),
    "speaker-stop": ("speaker", "stop", {}),
}
_DANGER = {"fan-off", "relay-off", "valve-shut", "speaker-stop"}


def command_body(op: str, fields: Json, reason: str) -> Json:
    """The API body of a panel button: action and params from `op`, plus the fields it uses."""
    _kind, action, fixed = OPS[op]
    params: Json = dict(fixed)
    if op == "fan-on" and fields.get("speed"):
        params["speed"] = int(fields["speed"])
    if op == "speaker-play":
        text = str(fields.get("text") or "").strip()
        params.update({"text": text} if text else {"preset": fields.get("preset") or PRESETS[0]})
        params["volume"] = int(fields.get("volume") or 80)
        params["repeat"] = int(fields.get("repeat") or 1)
    hold = int(fields.get("hold") or 0)
    return {"action": action, "params": params, "reason": reason, "expires_in_s": hold or None}


def state_text(device: Json, lang: str) -> str:
    """The actuator's reported state in words ('运行 · 2 档'), or that it has reported none."""
    st = (device.get("live") or {}).get("actuator_state")
    if not st:
        return t("ctl.nostate", lang)
    parts: list[str] = []
    if "on" in st:
        parts.append(t("ctl.running" if st["on"] else "ctl.stopped", lang))
    if "open" in st:
        parts.append(t("ctl.open" if st["open"] else "ctl.shut", lang))
    if "playing" in st:
        parts.append(t("ctl.playing" if st["playing"] else "ctl.silent", lang))
    if st.get("speed"):
        parts.append(t("ctl.speed.n", lang, n=st["speed"]))
    rest = {k: v for k, v in st.items() if k not in ("on", "open", "playing", "speed")}
    parts += [f"{k} {v}" for k, v in rest.items()]
    return " · ".join(parts)


def open_button(device: Json, lang: str) -> html.Button:
    """The button on a device line that opens its control panel."""
    return html.Button(
        t("ctl.open.panel", lang),
        id={"type": "ctl-open", "device": device["id"]},
        className="btn ctl-open",
        **data_attrs(control=device["id"]),
    )


def _button(op: str, lang: str) -> html.Button:
    tone = "danger" if op in _DANGER else "go"
    return html.Button(
        t(f"ctl.{op}", lang), id={"type": "ctl", "op": op}, className=f"btn ctl {tone}", **data_attrs(op=op)
    )


def _field(name: str, label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label), control], className=f"ctl-field {name}")


def _fields(kind: str, lang: str) -> list[Any]:
    if kind == "fan":
        speeds = [{"label": t("ctl.speed.n", lang, n=n), "value": n} for n in (1, 2, 3)]
        radio = dcc.RadioItems(speeds, 2, id={"type": "ctl-field", "name": "speed"}, inline=True)
        return [_field("speed", t("ctl.speed", lang), radio)]
    if kind != "speaker":
        return []
    presets = [{"label": t(f"ctl.preset.{p}", lang), "value": p} for p in PRESETS]
    return [
        _field(
            "preset",
            t("ctl.preset", lang),
            dcc.Dropdown(presets, PRESETS[0], id={"type": "ctl-field", "name": "preset"}, clearable=False),
        ),
        _field(
            "text",
            t("ctl.text", lang),
            dcc.Textarea(id={"type": "ctl-field", "name": "text"}, placeholder=t("ctl.text.hint", lang)),
        ),
        _field(
            "volume",
            t("ctl.volume", lang),
            dcc.Slider(0, 100, 10, value=80, id={"type": "ctl-field", "name": "volume"}),
        ),
        _field(
            "repeat",
            t("ctl.repeat", lang),
            dcc.Input(id={"type": "ctl-field", "name": "repeat"}, type="number", min=1, max=10, value=1),
        ),
    ]


def _hold(lang: str) -> dcc.RadioItems:
    options = [{"label": t("ctl.hold.once", lang), "value": 0}]
    options += [{"label": t("ctl.hold.min", lang, n=h // 60), "value": h} for h in HOLDS_S if h]
    return dcc.RadioItems(options, 0, id={"type": "ctl-field", "name": "hold"}, inline=True)


def control_form(device: Json, lang: str) -> list[Any]:
    """The kind's fields and buttons, how long to hold, and a reason for the record."""
    kind = device["kind"]
    ops = [op for op, (k, _a, _p) in OPS.items() if k == kind]
    return [
        *_fields(kind, lang),
        _field("hold", t("ctl.hold", lang), _hold(lang)),
        _field(
            "reason",
            t("ctl.reason", lang),
            dcc.Input(
                id={"type": "ctl-field", "name": "reason"},
                placeholder=t("ctl.reason.hint", lang),
                debounce=False,
            ),
        ),
        html.Div([_button(op, lang) for op in ops], className="ctl-buttons"),
    ]


def control_title(device: Json, lang: str) -> list[Any]:
    """The device's name, kind and space."""
    place = device.get("space_name") or device.get("space", "")
    return [
        html.H3(device.get("name") or device["id"]),
        html.Div(f"{word('kind', device['kind'], lang)} · {place}", className="muted"),
    ]


def control_panel() -> html.Aside:
    """The (empty until a device is picked) panel and its stores; placed once in a page's frame."""
    return html.Aside(
        [
            dcc.Store(id="ctl-device"),
            html.Button("✕", id="ctl-close", className="btn ctl-close", n_clicks=0),
            html.Div(id="ctl-title"),
            html.Div(id="ctl-state", className="ctl-state"),
            html.Div(id="ctl-form", className="ctl-form"),
            html.Div(id="ctl-answer", className="ctl-answer"),
            dcc.Interval(id="ctl-tick", interval=2000),
        ],
        id="ctl-panel",
        className="ctl-panel",
    )


def answer_text(err: ApiError | httpx.HTTPError, lang: str) -> str:
    """A refusal in words a person can act on: not available yet, refused by an interlock, or why."""
    status = getattr(err, "status", None)
    if status == 404:
        return t("ctl.unavailable", lang, detail=str(err))
    if status == 409:
        return t("ctl.refused", lang, detail=str(err))
    if status in (401, 403):
        return t("ctl.forbidden", lang, detail=str(err))
    return t("ctl.failed", lang, detail=f"{status or ''} {err}".strip())


def accepted_text(answer: Json, lang: str) -> str:
    """The API's command state in words: state, and the command's id where it gives one."""
    state = answer.get("state") or answer.get("status") or "?"
    ident = answer.get("id") or answer.get("correlation_id") or ""
    detail = answer.get("detail") or ""
    return " · ".join(p for p in (t("ctl.sent", lang, state=state), str(ident), str(detail)) if p)


def _fields_of(states: list[Json]) -> Json:
    return {s["id"]["name"]: s.get("value") for s in states}


def register_controls(app: dash.Dash, client: ApiClient) -> None:
    """Open / close the panel, draw its form, post its commands."""

    def pick(_clicks: list[int | None], _close: int | None) -> Any:
        trigger = dash.ctx.triggered_id
        clicked = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        if trigger == "ctl-close" and clicked:
            return None
        # Device lines are redrawn every refresh; a redrawn button "triggers" with no clicks.
        if not isinstance(trigger, dict) or not clicked:
            return dash.no_update
        return str(trigger["device"])

    app.callback(
        Output("ctl-device", "data"),
        Input({"type": "ctl-open", "device": ALL}, "n_clicks"),
        Input("ctl-close", "n_clicks"),
        prevent_initial_call=True,
    )(pick)

    def form(device_id: str | None, lang_value: str | None) -> tuple[Any, Any, str, str, str]:
        lang = lang_of(lang_value)
        if not device_id:
            return [], [], "", "ctl-panel", ""
        if not allowed(permissions(client), ACTUATORS):
            return [], [html.P(t("ctl.notallowed", lang))], "", "ctl-panel shown", ""
        try:
            device = client.get(f"/devices/{device_id}")
        except (ApiError, httpx.HTTPError) as err:
            return [], [html.P(str(err))], "", "ctl-panel shown", ""
        shown = "ctl-panel shown"
        return control_title(device, lang), control_form(device, lang), state_text(device, lang), shown, ""

    app.callback(
        Output("ctl-title", "children"),
        Output("ctl-form", "children"),
        Output("ctl-state", "children", allow_duplicate=True),
        Output("ctl-panel", "className"),
        Output("ctl-answer", "children", allow_duplicate=True),
        Input("ctl-device", "data"),
        Input("lang", "data"),
        prevent_initial_call=True,
    )(form)

    def send(
        _clicks: list[int | None],
        _values: list[Any],
        device_id: str | None,
        user: str | None,
        lang_value: str,
    ) -> tuple[Any, Any]:
        lang = lang_of(lang_value)
        trigger = dash.ctx.triggered_id
        clicked = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        if not isinstance(trigger, dict) or not clicked or not device_id:
            return dash.no_update, dash.no_update
        fields = _fields_of(dash.ctx.states_list[0])
        operator = (user or "").strip()
        reason = str(fields.get("reason") or "").strip() or t("ctl.reason.default", lang)
        body = command_body(str(trigger["op"]), fields, reason)
        try:
            return accepted_text(client.command(device_id, body, operator), lang), "ctl-answer ok"
        except (ApiError, httpx.HTTPError) as err:
            return answer_text(err, lang), "ctl-answer bad"

    app.callback(
        Output("ctl-answer", "children"),
        Output("ctl-answer", "className"),
        Input({"type": "ctl", "op": ALL}, "n_clicks"),
        State({"type": "ctl-field", "name": ALL}, "value"),
        State("ctl-device", "data"),
        State("operator", "value"),
        State("lang", "data"),
        prevent_initial_call=True,
    )(send)

    def refresh_state(_n: int | None, device_id: str | None, lang_value: str | None) -> Any:
        if not device_id:
            return dash.no_update
        try:
            return state_text(client.get(f"/devices/{device_id}"), lang_of(lang_value))
        except (ApiError, httpx.HTTPError):
            return dash.no_update

    app.callback(
        Output("ctl-state", "children"),
        Input("ctl-tick", "n_intervals"),
        State("ctl-device", "data"),
        State("lang", "data"),
        prevent_initial_call=True,
    )(refresh_state)
