"""The runtime twin: the spec indexed for the hot path (device id -> where it is, what it reports)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from twin.kinds import DeviceKind, MetricSpec, SpaceKind
from twin.model import BuildingSpec, DeviceSpec, GatewaySpec, PartySpec, SiteSpec, SpaceSpec, TwinSpec


@dataclass(frozen=True, slots=True)
class DevicePlace:
    """A device with the ids of every level it sits under; what ingest tags readings with."""

    device_id: str
    kind: DeviceKind
    site: str
    building: str  # "" for spaces outside buildings
    floor_level: int | None
    space: str
    space_kind: SpaceKind
    metrics: dict[str, MetricSpec]
    spec: DeviceSpec


class _Sharer:
    """Shares equal, never-mutated parts of the device specs: a community has 400,000 devices.

    Validation gives every device its own empty `ranges`, `contacts`, its own `meta` dict (mostly the
    same few maintenance dates), its own copy of every gateway id and its own set of the fields it
    set.  The specs are frozen, so one instance of each can serve them all; this roughly halves the
    memory of a device's spec.  Only the instance dictionaries are touched, never a value.
    """

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}

    def one(self, value: Any) -> Any:
        try:
            key = (type(value), _freeze(value))
            return self._seen.setdefault(key, value)
        except TypeError:  # something unhashable inside: keep the device's own
            return value

    def device(self, dev: DeviceSpec) -> None:
        fields = dev.__dict__
        for name in ("ranges", "meta", "contacts"):
            fields[name] = self.one(fields[name])
        if dev.gateway is not None:
            fields["gateway"] = sys.intern(dev.gateway)
        dev.__pydantic_fields_set__ = self.one(dev.__pydantic_fields_set__)


def _freeze(value: Any) -> Any:
    """A hashable stand-in that tells apart what compares equal but differs (1, 1.0 and True)."""
    if isinstance(value, dict):
        return ("d", tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("s", frozenset(value))
    return (type(value), value)  # hashable: frozen models, str, numbers, dates (else TypeError)


class Twin:
    """Immutable index over a `TwinSpec`."""

    def __init__(self, spec: TwinSpec) -> None:
        self.spec = spec
        self._sharer = _Sharer()
        self._metric_specs: dict[tuple[DeviceKind, Any], dict[str, MetricSpec]] = {}
        self.devices: dict[str, DevicePlace] = {}
        self.sites: dict[str, SiteSpec] = {}
        self.buildings: dict[str, BuildingSpec] = {}
        self.spaces: dict[str, SpaceSpec] = {}
        self.site_of_building: dict[str, str] = {}
        self.place_of_space: dict[str, tuple[str, str, int | None]] = {}
        self.parties: dict[str, PartySpec] = {p.id: p for p in spec.parties}
        self.gateways: dict[str, GatewaySpec] = {}
        self.site_of_gateway: dict[str, str] = {}
        self.behind_gateway: dict[str, list[str]] = {}
        for site in spec.sites:
            self.sites[site.id] = site
            for gw in site.gateways:
                self.gateways[gw.id] = gw
                self.site_of_gateway[gw.id] = site.id
                self.behind_gateway[gw.id] = []
            for space in site.spaces:
                self._add_space(space, site.id, "", None)
            for building in site.buildings:
                self.buildings[building.id] = building
                self.site_of_building[building.id] = site.id
                for floor in building.floors:
                    for space in floor.spaces:
                        self._add_space(space, site.id, building.id, floor.level)
        del self._sharer  # only needed while indexing

    def _add_space(self, space: SpaceSpec, site: str, building: str, level: int | None) -> None:
        self.spaces[space.id] = space
        self.place_of_space[space.id] = (site, building, level)
        for dev in space.devices:
            self._sharer.device(dev)
            if dev.gateway is not None:
                self.behind_gateway.setdefault(dev.gateway, []).append(dev.id)
            self.devices[dev.id] = DevicePlace(
                device_id=dev.id,
                kind=dev.kind,
                site=site,
                building=building,
                floor_level=level,
                space=space.id,
                space_kind=space.kind,
                metrics=self._metrics_of(dev),
                spec=dev,
            )

    def _metrics_of(self, dev: DeviceSpec) -> dict[str, MetricSpec]:
        """The device's metric specs; one dict for all devices of a kind with the same ranges."""
        key = (dev.kind, tuple(sorted(dev.ranges.items())))
        found = self._metric_specs.get(key)
        if found is None:
            found = self._metric_specs[key] = dev.metric_specs()
        return found

    def responsible_party(self, site: str, building: str = "") -> str | None:
        """The party that answers for a place: the building's own, else the site's owner."""
        if building and (b := self.buildings.get(building)) is not None and b.party:
            return b.party
        s = self.sites.get(site)
        return s.parties.owner if s is not None else None

    def escalation_chain(self, site: str) -> list[str]:
        """Parties a work order escalates to, in order: grid worker, community, street, district."""
        s = self.sites.get(site)
        if s is None:
            return []
        p = s.parties
        return [x for x in (p.grid, p.community, p.street, p.district) if x]

    def device(self, device_id: str) -> DevicePlace | None:
        return self.devices.get(device_id)

    def devices_in(
        self, *, site: str | None = None, building: str | None = None, space: str | None = None
    ) -> list[DevicePlace]:
        """Devices under a site, building or space (all devices if none is given)."""
        return [
            d
            for d in self.devices.values()
            if (site is None or d.site == site)
            and (building is None or d.building == building)
            and (space is None or d.space == space)
        ]
