"""Where an alarm is: the twin walked upward (space -> floor -> building -> site), names and roll-ups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from core.alarms import Alarm, AlarmState, Severity
from twin.twin import Twin


@dataclass(frozen=True, slots=True)
class Place:
    """Every level an alarm's source sits under; '' / None where it sits above that level."""

    site: str
    building: str
    level: int | None
    space: str


def floor_key(building: str, level: int) -> str:
    """Key of a floor in `WorstByPlace.floors`: '<building_id>/<level>' ('/' is never in an id)."""
    return f"{building}/{level}"


def locate(twin: Twin, alarm: Alarm) -> Place:
    """The alarm's place from the twin (device or space source), else from the alarm's own fields."""
    dev = twin.devices.get(alarm.source_id)
    if dev is not None:
        return Place(dev.site, dev.building, dev.floor_level, dev.space)
    space = alarm.source_id if alarm.source_id in twin.spaces else alarm.space
    if space and space in twin.place_of_space:
        site, building, level = twin.place_of_space[space]
        return Place(site, building, level, space)
    building = alarm.building
    site = twin.site_of_building.get(building, alarm.site) if building else alarm.site
    return Place(site, building, None, alarm.space)


def place_name(twin: Twin, alarm: Alarm) -> str:
    """The most specific name a person recognises: space, else building, else site, else the id."""
    place = locate(twin, alarm)
    if place.space and place.space in twin.spaces:
        return twin.spaces[place.space].name
    if place.building and place.building in twin.buildings:
        return twin.buildings[place.building].name
    if place.site in twin.sites:
        return twin.sites[place.site].name
    return alarm.space or alarm.building or alarm.site or alarm.source_id


def place_id(alarm: Alarm) -> str:
    """The most specific place id of an alarm (used to tell repeated hazards at the same place)."""
    return alarm.space or alarm.building or alarm.site


def party_name(twin: Twin, party_id: str | None) -> str:
    """A party's name, or its id when the twin does not know it."""
    if party_id is None:
        return ""
    party = twin.parties.get(party_id)
    return party.name if party is not None else party_id


class PlaceStatus(BaseModel):
    """Roll-up of the active alarms under one place."""

    model_config = ConfigDict(frozen=True)

    worst: Severity = Field(description="Worst severity of the active alarms under it")
    active: int = Field(description="Number of active alarms under it (shelved ones included)")


class WorstByPlace(BaseModel):
    """Active alarms rolled up the twin; a place that is absent has no active alarm."""

    model_config = ConfigDict(frozen=True)

    sites: dict[str, PlaceStatus] = Field(default_factory=dict, description="By site id")
    buildings: dict[str, PlaceStatus] = Field(default_factory=dict, description="By building id")
    floors: dict[str, PlaceStatus] = Field(
        default_factory=dict, description="By '<building_id>/<level>' (see floor_key)"
    )
    spaces: dict[str, PlaceStatus] = Field(default_factory=dict, description="By space id")


def _bump(table: dict[str, list[int]], key: str, severity: Severity) -> None:
    rank_count = table.setdefault(key, [0, 0])
    rank_count[0] = max(rank_count[0], severity.rank)
    rank_count[1] += 1


def worst_by_place(twin: Twin, alarms: Iterable[Alarm]) -> WorstByPlace:
    """Worst active severity and active count for every space, floor, building and site with one."""
    tables: dict[str, dict[str, list[int]]] = {"sites": {}, "buildings": {}, "floors": {}, "spaces": {}}
    for alarm in alarms:
        if alarm.state is not AlarmState.ACTIVE:
            continue
        place = locate(twin, alarm)
        if place.site:
            _bump(tables["sites"], place.site, alarm.severity)
        if place.building:
            _bump(tables["buildings"], place.building, alarm.severity)
            if place.level is not None:
                _bump(tables["floors"], floor_key(place.building, place.level), alarm.severity)
        if place.space:
            _bump(tables["spaces"], place.space, alarm.severity)
    by_rank = {s.rank: s for s in Severity}
    return WorstByPlace(
        **{
            name: {k: PlaceStatus(worst=by_rank[r], active=n) for k, (r, n) in table.items()}
            for name, table in tables.items()
        }
    )
