"""The runtime twin: the spec indexed for the hot path (device id -> where it is, what it reports)."""

from __future__ import annotations

from dataclasses import dataclass

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


class Twin:
    """Immutable index over a `TwinSpec`."""

    def __init__(self, spec: TwinSpec) -> None:
        self.spec = spec
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

    def _add_space(self, space: SpaceSpec, site: str, building: str, level: int | None) -> None:
        self.spaces[space.id] = space
        self.place_of_space[space.id] = (site, building, level)
        for dev in space.devices:
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
                metrics=dev.metric_specs(),
                spec=dev,
            )

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
