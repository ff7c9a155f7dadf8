"""An optional raster base map under the one-map figure, from a tile server the operators can reach.

Tiles (Web Mercator `{z}/{x}/{y}`) covering the twin are placed as layout images under the traces,
each stretched over its own longitude / latitude box; over a district a tile's Mercator stretch is
far below a pixel, so the SVG map keeps its geometry, clicks and zoom.  Without a tile URL nothing
is added and the page asks nothing of any other host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dashboard.client import Json

MAX_TILES = 48  # the most tiles one map asks for: the zoom is the finest that covers the twin with these
MAX_ZOOM = 19
PAD = 0.35  # share of the twin's extent added on each side, so a zoomed-out map still has a base
OPACITY = 0.45  # dimmed under the dark theme: the twin's colours stay what the eye reads first


def _tile_x(lon: float, z: int) -> int:
    return int((lon + 180.0) / 360.0 * (1 << z))


def _tile_y(lat: float, z: int) -> int:
    rad = math.radians(lat)
    return int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * (1 << z))


def _lon(x: int, z: int) -> float:
    return x / (1 << z) * 360.0 - 180.0


def _lat(y: int, z: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / (1 << z)))))


def tile_range(lons: Sequence[float], lats: Sequence[float]) -> tuple[int, range, range]:
    """(zoom, x tiles, y tiles): the finest zoom whose tiles over the padded extent are at most MAX_TILES."""
    w, e, s, n = min(lons), max(lons), min(lats), max(lats)
    dx, dy = (e - w) * PAD + 1e-4, (n - s) * PAD + 1e-4
    w, e, s, n = w - dx, e + dx, max(s - dy, -85.0), min(n + dy, 85.0)
    for z in range(MAX_ZOOM, 0, -1):
        xs = range(_tile_x(w, z), _tile_x(e, z) + 1)
        ys = range(_tile_y(n, z), _tile_y(s, z) + 1)
        if len(xs) * len(ys) <= MAX_TILES:
            return z, xs, ys
    return 0, range(1), range(1)


def tile_images(tile_url: str, lons: Sequence[float], lats: Sequence[float]) -> list[Json]:
    """Layout images of the tiles under the extent of the given points, each over its own box."""
    if not lons or not lats:
        return []
    z, xs, ys = tile_range(lons, lats)
    images: list[Json] = []
    for x in xs:
        for y in ys:
            top, bottom = _lat(y, z), _lat(y + 1, z)
            images.append(
                {
                    "source": tile_url.format(z=z, x=x, y=y),
                    "xref": "x",
                    "yref": "y",
                    "x": _lon(x, z),
                    "y": top,
                    "sizex": _lon(x + 1, z) - _lon(x, z),
                    "sizey": top - bottom,
                    "xanchor": "left",
                    "yanchor": "top",
                    "sizing": "stretch",
                    "layer": "below",
                    "opacity": OPACITY,
                }
            )
    return images
