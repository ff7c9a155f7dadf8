"""Drill-down: a building's floors → spaces → devices, or a site's buildings and outside spaces.

Live values, units, alarm thresholds (from the evidence of the device's active threshold alarms: the
API has no rules endpoint yet), health and actuator states; refreshed every 2 s from
GET /buildings/{id} or /sites/{id}, /devices, /places/worst and /alarms.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from dash import dcc, html

from dashboard.access import ACTUATORS, allowed, permissions
from dashboard.client import ApiClient, Json
from dashboard.controls import ACTUATOR_KINDS, control_panel, open_button, state_text
from dashboard.floorview import twin_path
from dashboard.fmt import data_attrs, fmt_age, fmt_floor, fmt_value
from dashboard.i18n import age_text, t, word
from dashboard.mapfig import level

SECONDARY = ("battery", "rssi")
REFRESH_MS = 2000


def drill_frame(kind: str, ident: str, lang: str) -> html.Div:
    """The page's frame for a building or site; `drill-body` is filled by the refresh."""
    return html.Div(
        [
            dcc.Link(t("back", lang), href="/", className="back"),
            html.Div(id="drill-body", className="drill-body"),
            control_panel(),
            dcc.Store(id="drill-target", data={"kind": kind, "id": ident}),
            dcc.Interval(id="drill-refresh", interval=REFRESH_MS, n_intervals=0),
        ],
        className="drill-page",
        **data_attrs(drill=f"{kind}:{ident}"),
    )


def _thresholds(alarms: list[Json], lang: str) -> dict[tuple[str, str], str]:
    """'warning ≥ 24 · alarm ≥ 50' per (device, metric), from active threshold alarms' evidence."""
    out: dict[tuple[str, str], str] = {}
    for a in alarms:
        ev = a.get("evidence") or {}
        if "metric" in ev and isinstance(ev.get("levels"), list):
            out[(a["source_id"], ev["metric"])] = " · ".join(
                f"{word('severity', str(lv.get('severity')), lang)} {fmt_value(float(lv['trigger']))}"
                for lv in ev["levels"]
                if "trigger" in lv
            )
    return out


def _values(device: Json, limits: dict[tuple[str, str], str], lang: str) -> list[Any]:
    live = device["live"]
    values: dict[str, Json] = live["values"]
    if not values:
        return [html.Span(t("no.data", lang), className="muted")]
    order = [m for m in values if m not in SECONDARY] + [m for m in SECONDARY if m in values]
    out: list[Any] = []
    for m in order:
        v = values[m]
        limit = limits.get((device["id"], m))
        parts = [
            html.Span(m, className="metric-name"),
            html.Span(fmt_value(v["value"]), className="metric-value"),
            html.Span(v["unit"], className="metric-unit"),
        ]
        if limit:
            parts.append(html.Span(f"{t('threshold', lang)} {limit}", className="metric-limit"))
        out.append(
            html.Span(
                parts, className="metric secondary" if m in SECONDARY else "metric", **data_attrs(metric=m)
            )
        )
    return out


def device_line(
    device: Json, limits: dict[tuple[str, str], str], now_ms: int, lang: str, control: bool = False
) -> html.Div:
    """A device with its live values, thresholds, health and actuator state (and controls, if allowed)."""
    live = device["live"]
    health = str(live["health"])
    extra: list[Any] = []
    if device["kind"] in ACTUATOR_KINDS:
        extra.append(html.Span(state_text(device, lang), className="actuator"))
        if control:
            extra.append(open_button(device, lang))
    name = device.get("name") or device["id"]
    return html.Div(
        [
            dcc.Link(name, href=f"/device/{device['id']}", className="device-name", title=device["id"]),
            html.Span(word("kind", device["kind"], lang), className="device-kind"),
            html.Span(_values(device, limits, lang), className="metric-list"),
            *extra,
            html.Span(
                t(f"health.{health}", lang), className=f"badge {health}", title=live.get("fault") or ""
            ),
            html.Span(age_text(fmt_age(live.get("last_seen_ts"), now_ms), lang), className="age"),
        ],
        className=f"device-line {health}",
        **data_attrs(device=device["id"]),
    )


def space_card(space: Json, devices: list[Json], ctx: dict[str, Any], lang: str) -> html.Section:
    """One space, coloured by its worst active alarm, with its devices."""
    st = ctx["worst"].get("spaces", {}).get(space["id"])
    lvl = level(st)
    badge = (
        html.Span(f"{word('severity', lvl, lang)} × {st['active']}", className=f"sev {lvl}") if st else None
    )
    lines: list[Any] = [device_line(d, ctx["limits"], ctx["now"], lang, ctx["control"]) for d in devices]
    head: list[Any] = [html.H4(space["name"])]
    if space.get("confined"):
        head.append(html.Span(t("confined", lang), className="tag"))
    return html.Section(
        [
            html.Header([*head, badge] if badge else head),
            *(lines or [html.P(t("no.devices", lang), className="muted")]),
        ],
        className=f"space-card {lvl}",
        **data_attrs(space=space["id"], level=lvl),
    )


def _context(client: ApiClient, site: str, lang: str) -> dict[str, Any]:
    worst = client.optional("/places/worst", {})
    alarms = client.optional("/alarms", {"items": []}, state=["active"], site=site, limit=1000)["items"]
    control = allowed(permissions(client), ACTUATORS)
    return {
        "worst": worst,
        "limits": _thresholds(alarms, lang),
        "now": int(time.time() * 1000),
        "control": control,
    }


def _by_space(devices: list[Json]) -> dict[str, list[Json]]:
    out: dict[str, list[Json]] = defaultdict(list)
    for d in devices:
        out[d["space"]].append(d)
    return out


def building_body(client: ApiClient, building_id: str, lang: str) -> list[Any]:
    """Floors from the top down, each with its spaces and their devices."""
    b = client.get(f"/buildings/{building_id}")
    devices = client.get("/devices", building=building_id, limit=1000)["items"]
    ctx = _context(client, b["site"], lang)
    by_space = _by_space(devices)
    st = ctx["worst"].get("buildings", {}).get(building_id)
    title = [html.H2(b["name"]), html.Span(f"{b['floors_above']}F / B{b['floors_below']}", className="muted")]
    if st:
        title.append(
            html.Span(
                f"{word('severity', st['worst'], lang)} × {st['active']}", className=f"sev {st['worst']}"
            )
        )
    floors = []
    for f in sorted(b["floors"], key=lambda f: -f["level"]):
        fst = ctx["worst"].get("floors", {}).get(f"{building_id}/{f['level']}")
        floors.append(
            html.Div(
                [
                    dcc.Link(
                        f["name"] or fmt_floor(f["level"]),
                        href=twin_path(building_id, "floor", f["level"]),
                        className=f"floor-tag {level(fst)}",
                        title=t("floor.plan", lang),
                    ),
                    html.Div(
                        [space_card(sp, by_space.get(sp["id"], []), ctx, lang) for sp in f["spaces"]],
                        className="floor-spaces",
                    ),
                ],
                className="floor-row",
                **data_attrs(floor=str(f["level"])),
            )
        )
    first = next((f["level"] for f in sorted(b["floors"], key=lambda f: f["level"]) if f["spaces"]), None)
    views = [dcc.Link(t("twin.3d", lang), href=twin_path(building_id, "3d"), className="view-link twin3d")]
    if first is not None:
        href = twin_path(building_id, "floor", first)
        views.insert(0, dcc.Link(t("floor.plan", lang), href=href, className="view-link plan"))
    title.append(html.Span(views, className="view-links"))
    return [html.Header(title, className="drill-title"), *floors]


def site_body(client: ApiClient, site_id: str, lang: str) -> list[Any]:
    """A site's buildings (links, by status) and the spaces outside them with their devices."""
    s = client.get(f"/sites/{site_id}")
    devices = client.get("/devices", site=site_id, limit=1000)["items"]
    ctx = _context(client, site_id, lang)
    by_space = _by_space([d for d in devices if not d["building"]])
    links = []
    for b in s["buildings"]:
        st = ctx["worst"].get("buildings", {}).get(b["id"])
        text = f"{b['name']}" + (f"  ▲{st['active']}" if st else "")
        links.append(dcc.Link(text, href=f"/building/{b['id']}", className=f"building-link {level(st)}"))
    spaces = [space_card(sp, by_space.get(sp["id"], []), ctx, lang) for sp in s["spaces"]]
    return [
        html.Header(
            [html.H2(s["name"]), html.Span(s.get("street") or "", className="muted")], className="drill-title"
        ),
        html.Div(links, className="building-links"),
        html.H3(t("outside", lang)),
        html.Div(spaces, className="floor-spaces"),
    ]
