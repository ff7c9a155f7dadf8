"""The overview: every site, its buildings and their devices.

It is drawn in two parts so it stays fast with thousands of devices.  The *structure* (sections,
tables, one row per device with name, kind and place) is rendered by Dash only when the twin
changes.  The *live* part (values, state badge, last seen, online counts) is a small JSON payload
sent every refresh and written into the rows by `assets/live.js`, which keeps the browser from
re-rendering tens of thousands of components every two seconds.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from dash import html

from dashboard.client import Json, Snapshot
from dashboard.fmt import data_attrs, fmt_age, fmt_floor, fmt_value

SECONDARY_METRICS = ("battery", "rssi")  # shown small, after what the device measures

HEALTH_LABEL = {
    "ok": "online",
    "offline": "offline",
    "unknown": "never seen",
    "fault": "fault",
    "clock_off": "clock off",
}
_SITE_KIND = {
    "street": "street",
    "community": "community",
    "construction_site": "construction site",
    "enterprise": "enterprise",
    "venue": "venue",
}
_COLUMNS = ("Device", "Kind", "Place", "Live values", "State", "Last seen")


def _by(devices: list[Json], key: str) -> dict[str, list[Json]]:
    out: dict[str, list[Json]] = defaultdict(list)
    for d in devices:
        out[d[key]].append(d)
    return out


def structure_key(snap: Snapshot) -> str:
    """Changes when anything the structure shows changes: sites, buildings, devices and their places."""
    digest = hashlib.sha256()
    for s in snap.sites:
        digest.update(
            repr(
                (
                    s["id"],
                    s["name"],
                    s.get("kind"),
                    s.get("street"),
                    [(b["id"], b["name"]) for b in s.get("buildings", [])],
                )
            ).encode()
        )
    for d in snap.devices:
        digest.update(
            repr(
                (
                    d["id"],
                    d.get("name"),
                    d["kind"],
                    d["site"],
                    d["building"],
                    d.get("floor_level"),
                    d["space"],
                    d.get("space_name"),
                )
            ).encode()
        )
    digest.update(str(snap.devices_total).encode())
    return digest.hexdigest()


# --- structure ----------------------------------------------------------------------------------


def device_row(device: Json) -> html.Tr:
    """A row with what does not change; the empty cells are filled by live.js."""
    return html.Tr(
        [
            html.Td(
                [
                    html.Div(device.get("name") or device["id"], className="device-name"),
                    html.Div(device["id"], className="device-id"),
                ]
            ),
            html.Td(device["kind"].replace("_", " "), className="kind"),
            html.Td(
                [
                    html.Span(fmt_floor(device.get("floor_level")), className="floor"),
                    html.Span(device.get("space_name") or device["space"]),
                ],
                className="place",
            ),
            html.Td(className="values"),
            html.Td(className="health"),
            html.Td(className="age"),
        ],
        className="device",
        **data_attrs(device=device["id"]),
    )


def _group(
    title: str, count_key: str, count: str, devices: list[Json], attrs: dict[str, Any]
) -> html.Section:
    head = html.Thead(html.Tr([html.Th(c) for c in _COLUMNS]))
    table = html.Table([head, html.Tbody([device_row(d) for d in devices])], className="devices")
    title_row = html.H3(
        [html.Span(title), html.Span(count, className="counts", **data_attrs(count=count_key))]
    )
    return html.Section([title_row, table], className="group", **attrs)


def site_section(site: Json, devices: list[Json], counts: dict[str, str]) -> html.Section:
    """One site: its buildings, each with a device table, then the spaces outside buildings."""
    by_building = _by(devices, "building")
    groups: list[Any] = [
        _group(
            b["name"],
            f"b:{b['id']}",
            counts[f"b:{b['id']}"],
            by_building[b["id"]],
            data_attrs(building=b["id"]),
        )
        for b in site.get("buildings", [])
        if by_building.get(b["id"])
    ]
    if by_building.get(""):
        key = f"o:{site['id']}"
        groups.append(_group("Outside buildings", key, counts[key], by_building[""], data_attrs(building="")))
    kind = _SITE_KIND.get(site.get("kind", ""), site.get("kind", ""))
    header = html.Header(
        [
            html.H2(site["name"], className="site-name"),
            html.Span(" · ".join(x for x in (kind, site.get("street")) if x), className="site-meta"),
            html.Span(counts[f"s:{site['id']}"], className="counts", **data_attrs(count=f"s:{site['id']}")),
        ]
    )
    body = groups or [html.P("No devices in this site.", className="muted")]
    return html.Section([header, *body], className="site", **data_attrs(site=site["id"]))


def overview(snap: Snapshot) -> list[Any]:
    """Every site with its devices; a note when only part of the devices are listed."""
    by_site = _by(snap.devices, "site")
    counts = online_counts(snap)
    out: list[Any] = [site_section(s, by_site.get(s["id"], []), counts) for s in snap.sites]
    if snap.devices_total > len(snap.devices):
        out.append(
            html.P(
                f"Showing the first {len(snap.devices):,} of {snap.devices_total:,} devices.",
                className="muted",
            )
        )
    return out


# --- live ---------------------------------------------------------------------------------------


def online_counts(snap: Snapshot) -> dict[str, str]:
    """'online / total' texts keyed 's:<site>', 'b:<building>' and 'o:<site>' (outside buildings)."""
    counts: dict[str, str] = {}
    for s in snap.sites:
        counts[f"s:{s['id']}"] = f"{s['devices_online']:,} / {s['devices']:,} devices online"
        for b in s.get("buildings", []):
            counts[f"b:{b['id']}"] = f"{b['devices_online']:,} / {b['devices']:,} online"
    outside = _by([d for d in snap.devices if not d["building"]], "site")
    for site_id, devices in outside.items():
        online = sum(1 for d in devices if d["live"]["online"])
        counts[f"o:{site_id}"] = f"{online:,} / {len(devices):,} online"
    return counts


def device_live(device: Json, now_ms: int) -> Json:
    """What live.js writes into a device's row, already formatted."""
    live = device["live"]
    values: dict[str, Json] = live["values"]
    order = [m for m in device["metrics"] if m in values and m not in SECONDARY_METRICS]
    order += [m for m in values if m not in order and m not in SECONDARY_METRICS]
    order += [m for m in SECONDARY_METRICS if m in values]
    health = str(live["health"])
    return {
        "health": health,
        "label": HEALTH_LABEL.get(health, health),
        "fault": live.get("fault"),
        "age": fmt_age(live.get("last_seen_ts"), now_ms),
        "values": [
            [m, fmt_value(values[m]["value"]), values[m]["unit"], m in SECONDARY_METRICS] for m in order
        ],
    }


def live_payload(snap: Snapshot, now_ms: int) -> Json:
    """The live part of the overview for one refresh."""
    return {
        "now": now_ms,
        "devices": {d["id"]: device_live(d, now_ms) for d in snap.devices},
        "counts": online_counts(snap),
    }
