"""What an alarm is about (a device or a space, with its place in the twin) and plain-language text."""

from __future__ import annotations

from dataclasses import dataclass

from core.alarms import SourceKind
from twin.twin import DevicePlace, Twin

_LABELS = {
    "co": "CO",
    "h2s": "H2S",
    "o2": "O2",
    "ch4": "Methane",
    "lel": "Combustible gas",
    "temperature": "Temperature",
    "humidity": "Humidity",
    "battery": "Battery",
    "rssi": "Signal",
    "current": "Current",
    "pressed": "Panic button",
}


@dataclass(frozen=True, slots=True)
class Source:
    """A device or space an alarm is about, with the ids of every level above it."""

    kind: SourceKind
    id: str
    name: str  # device or space name for people
    site: str
    building: str
    space: str
    space_name: str
    devices: tuple[str, ...]  # the device itself, or the devices of the space the rule watches

    def where(self) -> dict[str, str]:
        """Evidence block naming the place."""
        return {
            "site": self.site,
            "building": self.building,
            "space": self.space,
            "space_name": self.space_name,
        }


class SourceCatalog:
    """Builds and shares Source objects, so many rules on one device hold one object."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self._devices: dict[str, Source] = {}
        self._spaces: dict[tuple[str, tuple[str, ...]], Source] = {}

    def device(self, place: DevicePlace) -> Source:
        src = self._devices.get(place.device_id)
        if src is None:
            space = self.twin.spaces[place.space]
            src = Source(
                kind=SourceKind.DEVICE,
                id=place.device_id,
                name=place.spec.name or place.device_id,
                site=place.site,
                building=place.building,
                space=place.space,
                space_name=space.name,
                devices=(place.device_id,),
            )
            self._devices[place.device_id] = src
        return src

    def space(self, space_id: str, devices: tuple[str, ...]) -> Source:
        key = (space_id, devices)
        src = self._spaces.get(key)
        if src is None:
            site, building, _ = self.twin.place_of_space[space_id]
            name = self.twin.spaces[space_id].name
            src = Source(SourceKind.SPACE, space_id, name, site, building, space_id, name, devices)
            self._spaces[key] = src
        return src


def label(metric: str) -> str:
    """How a metric is named in messages."""
    return _LABELS.get(metric, metric)


def fmt(value: float) -> str:
    """A number as people write it: 52, 7.06, 0.5."""
    if abs(value) >= 1e6:
        return f"{value:.0f}"
    return f"{round(value, 2):g}"


def fmt_duration(ms: int | float) -> str:
    """30 s, 2 min 5 s, 1 h 5 min."""
    s = round(ms / 1000)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, rest = divmod(s, 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    h, rest = divmod(s, 3600)
    m = rest // 60
    return f"{h} h {m} min" if m else f"{h} h"
