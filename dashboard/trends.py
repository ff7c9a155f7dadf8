"""A device's history from GET /devices/{id}/history, as a zoomable line per metric."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.client import Json
from dashboard.i18n import t

RANGES_H = (1, 6, 24, 168)


def trend_frame(device: Json, lang: str) -> html.Div:
    """Metric and range pickers, and the graph the trend callback fills."""
    metrics = list(device["metrics"]) or [""]
    name = device.get("name") or device["id"]
    back = f"/building/{device['building']}" if device["building"] else f"/site/{device['site']}"
    return html.Div(
        [
            dcc.Link(f"← {device['space_name']}", href=back, className="back"),
            html.Header([html.H2(name), html.Span(device["id"], className="muted")], className="drill-title"),
            html.Div(
                [
                    html.Label(t("trend.metric", lang)),
                    dcc.Dropdown(
                        id="trend-metric",
                        options=metrics,
                        value=metrics[0],
                        clearable=False,
                        className="picker",
                    ),
                    html.Label(t("trend.range", lang)),
                    dcc.RadioItems(
                        id="trend-hours",
                        options=[{"label": f"{h} h", "value": h} for h in RANGES_H],
                        value=1,
                        inline=True,
                        className="ranges",
                    ),
                ],
                className="trend-controls",
            ),
            dcc.Store(id="trend-device", data=device["id"]),
            dcc.Graph(id="trend-graph", className="trend-graph", config={"displaylogo": False}),
        ],
        className="trend-page",
    )


def trend_figure(history: Json, lang: str) -> go.Figure:
    """Mean per bucket with the min–max band; drag to zoom, double-click to reset."""
    pts = history.get("points", [])
    fig = go.Figure()
    if pts:
        xs = [datetime.fromtimestamp(p["ts"] / 1000) for p in pts]  # local time on the axis
        lo = [p.get("min", p.get("mean")) for p in pts]
        hi = [p.get("max", p.get("mean")) for p in pts]
        fig.add_trace(
            go.Scatter(
                x=[*xs, *xs[::-1]],
                y=[*hi, *lo[::-1]],
                fill="toself",
                line={"width": 0},
                fillcolor="rgba(88,166,255,0.18)",
                hoverinfo="skip",
                name="min–max",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[p.get("mean") for p in pts],
                mode="lines",
                name=history["metric"],
                line={"color": "#58a6ff", "width": 2},
            )
        )
    axis: dict[str, Any] = {"gridcolor": "#2a3341", "zerolinecolor": "#2a3341"}
    fig.update_layout(
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#0d1117",
        font={"color": "#e6edf3", "size": 14},
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
        showlegend=False,
        xaxis={**axis, "type": "date", "rangeslider": {"visible": True, "bgcolor": "#161b22"}},
        yaxis={**axis, "title": history.get("unit", "")},
        title={"text": "" if pts else t("trend.none", lang), "x": 0.5},
    )
    return fig
