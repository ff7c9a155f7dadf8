"""The runtime twin: the spec indexed for the hot path (device id -> where it is, what it reports)."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

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
    set.  The specs are frozen, so one instance of each can serve them all; the shared dicts and
    lists are read-only, so that changing one device's cannot change the others'.  Each device's
    instance dictionary is then rebuilt as a key-sharing one (PEP 412), which holds only the values:
    a device's eleven fields in about 180 bytes instead of 460.  Together this takes a device's spec
    from about 1,100 bytes to about 330.  Only the instance dictionaries are replaced: every field
    keeps an equal value, which dumps and compares as before.
    """

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}

    def one(self, value: Any) -> Any:
        try:
            key = (type(value), _freeze(value))
        except TypeError:  # something unhashable inside: keep the device's own
            return value
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = _read_only(value)
        return found

    def device(self, dev: DeviceSpec) -> None:
        fields = _DeviceFields()  # the same fields in the same order: every device shares one key table
        for name, value in dev.__dict__.items():
            setattr(fields, name, self.one(value) if name in _SHARED_FIELDS else value)
        if dev.gateway is not None:
            fields.gateway = sys.intern(dev.gateway)
        object.__setattr__(dev, "__dict__", fields.__dict__)  # the model is frozen to its users only
        dev.__pydantic_fields_set__ = self.one(dev.__pydantic_fields_set__)


_SHARED_FIELDS = frozenset({"ranges", "meta", "contacts"})


class _DeviceFields:
    """Holds a device's fields while they are set, so its `__dict__` shares its keys with all the others.

    CPython shares one key table among the instance dictionaries of a class when every instance sets
    the same attributes in the same order; a dictionary built any other way (as validation builds a
    model's) keeps its own.  Where sharing is not possible the dictionary is simply an ordinary one.
    """

    gateway: str | None


class _SharedDict(dict[str, Any]):
    """A dict that many devices' specs hold: reading as a dict does, any change refused."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("shared by the specs of many devices, so read-only; build a new dict instead")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[_SharedDict], tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))  # pickle and copy without setting items one by one

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedDict:
        return type(self)(copy.deepcopy(dict(self), memo))


class _SharedList(list[Any]):
    """A list that many devices' specs hold: reading as a list does, any change refused."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("shared by the specs of many devices, so read-only; build a new list instead")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __reduce__(self) -> tuple[type[_SharedList], tuple[list[Any]]]:
        return (type(self), (list(self),))

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedList:
        return type(self)(copy.deepcopy(list(self), memo))


def _read_only(value: Any) -> Any:
    """`value` with its dicts and lists, at any depth, made read-only."""
    if isinstance(value, dict):
        return _SharedDict({k: _read_only(v) for k, v in value.items()})
    if isinstance(value, list):
        return _SharedList(_read_only(v) for v in value)
    return value  # frozen models, tuples, str, numbers, dates; the set of fields set stays a set


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
        """Devices under a site, building or space (all devices if none is given), in twin order.

        Walks the spec's own tree from the narrowest level given, so finding the fans of one garage
        in a 400,000-device twin (as every alarm's actions do) touches that garage only.
        """
        if space is not None:
            spaces = [self.spaces[space]] if space in self.spaces else []
        elif building is not None:
            b = self.buildings.get(building)
            spaces = [sp for floor in b.floors for sp in floor.spaces] if b is not None else []
        elif site is not None:
            s = self.sites.get(site)
            spaces = (
                []
                if s is None
                else [*s.spaces, *(sp for b in s.buildings for f in b.floors for sp in f.spaces)]
            )
        else:
            return list(self.devices.values())
        places = (self.devices[dev.id] for sp in spaces for dev in sp.devices)
        return [
            d
            for d in places
            if (site is None or d.site == site) and (building is None or d.building == building)
        ]
