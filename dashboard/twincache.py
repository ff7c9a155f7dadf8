"""The twin's structure, fetched from the API once and kept for a while: it changes rarely and is large."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from dashboard.client import ApiClient, Json
from dashboard.login import current_token

TWIN_TTL_S = 60.0


@dataclass
class Names:
    """Names people recognise, by id, for sites, buildings, spaces, devices and parties."""

    by_id: dict[str, str] = field(default_factory=dict)
    building_site: dict[str, str] = field(default_factory=dict)

    def name(self, ident: str) -> str:
        return self.by_id.get(ident, ident)


def _index(twin: Json) -> Names:
    names = Names()
    for party in twin.get("parties", []):
        names.by_id[party["id"]] = party["name"]
    for site in twin.get("sites", []):
        names.by_id[site["id"]] = site["name"]
        spaces = list(site.get("spaces", []))
        for b in site.get("buildings", []):
            names.by_id[b["id"]] = b["name"]
            names.building_site[b["id"]] = site["id"]
            spaces += [sp for f in b.get("floors", []) for sp in f.get("spaces", [])]
        for sp in spaces:
            names.by_id[sp["id"]] = sp["name"]
            for d in sp.get("devices", []):
                names.by_id[d["id"]] = d.get("name") or d["id"]
    return names


class TwinCache:
    """GET /twin at most once per `ttl_s` per logged-in user: each user's twin is what their scope shows."""

    def __init__(self, client: ApiClient, ttl_s: float = TWIN_TTL_S, keep: int = 256) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.keep = keep
        self._lock = threading.Lock()
        self._by_token: dict[str | None, tuple[Json, Names, float]] = {}

    def get(self) -> tuple[Json, Names]:
        """The twin and its name index; raises what the client raises when the API cannot be read."""
        token = current_token()
        with self._lock:
            hit = self._by_token.get(token)
            if hit is None or time.monotonic() - hit[2] > self.ttl_s:
                twin = self.client.twin()
                hit = (twin, _index(twin), time.monotonic())
                if len(self._by_token) >= self.keep:
                    self._by_token.pop(next(iter(self._by_token)))
                self._by_token[token] = hit
            return hit[0], hit[1]
