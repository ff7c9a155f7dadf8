"""The twin as written in YAML: site -> building -> floor -> space -> device.

These models are also the API's read models of the twin.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.contract import DeviceId
from twin.kinds import METRICS, DeviceKind, MetricSpec, SpaceKind

Ident = DeviceId  # same rule for every twin id: usable as an MQTT topic level


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatLon(_Spec):
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees (WGS 84)")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees (WGS 84)")


class FloorPosition(_Spec):
    x: float = Field(ge=0, le=1, description="Across the floor plan, fraction of its width")
    y: float = Field(ge=0, le=1, description="Down the floor plan, fraction of its depth")


class Contact(_Spec):
    """A person to notify: a party's duty phone, or the family of an elderly resident."""

    name: str = Field(min_length=1, max_length=100, description="Name")
    role: str | None = Field(None, max_length=100, description="e.g. 'duty officer', 'daughter'")
    phone: str | None = Field(None, max_length=40, description="Phone for SMS")
    email: str | None = Field(None, max_length=200, description="E-mail address")


PartyKind = Literal[
    "property_company",
    "site_owner",
    "enterprise",
    "grid_worker",
    "community",
    "street",
    "district",
    "department",
]


class PartySpec(_Spec):
    """A responsible party or a level of the grid-management chain."""

    id: Ident
    name: str = Field(min_length=1, max_length=200, description="Name shown to people")
    kind: PartyKind = Field(description="What the party is")
    contacts: list[Contact] = Field(default_factory=list)


class SiteParties(_Spec):
    """Who answers for a site: the responsible party, then the escalation chain."""

    owner: Ident | None = Field(
        None, description="Responsible party: property company, site owner, enterprise"
    )
    grid: Ident | None = Field(None, description="Grid worker (first escalation level)")
    community: Ident | None = Field(None, description="Community (second level)")
    street: Ident | None = Field(None, description="Street / sub-district office (third level)")
    district: Ident | None = Field(None, description="District (fourth level)")


ZoneKind = Literal["restricted", "construction", "ladder", "loitering", "general"]


class ZoneSpec(_Spec):
    """A zone of a camera's view: a polygon in frame fractions with what it means for analytics."""

    name: Ident = Field(description="Zone name, reported in detection events' `zones`")
    kind: ZoneKind = Field(
        description="restricted: any person is an intrusion; construction: helmets required; "
        "ladder: a person is climbing at height; loitering: a person staying `loiter_s` is an intrusion; "
        "general: only named in events"
    )
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="Outline as [x, y] points, fractions of the frame width and height (0..1)"
    )
    loiter_s: float | None = Field(
        None, gt=0, description="Seconds a person may stay in the zone before it is reported (loitering)"
    )

    @model_validator(mode="after")
    def _check_polygon(self) -> ZoneSpec:
        for x, y in self.polygon:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(
                    f"zone {self.name!r}: point [{x}, {y}] is outside the frame; use fractions 0..1"
                )
        if self.kind == "loitering" and self.loiter_s is None:
            raise ValueError(f"zone {self.name!r} is a loitering zone: set loiter_s (seconds)")
        return self


class CameraSpec(_Spec):
    """How SafeTwin's own video analytics read and analyse a plain IP camera."""

    source: str = Field(
        min_length=1,
        max_length=2000,
        description="rtsp:// or http(s):// stream (MJPEG or snapshot URL), or a video file or image folder",
    )
    fps: float = Field(5.0, gt=0, le=60, description="Most frames analysed per second, frames/s")
    width: int = Field(640, ge=64, le=3840, description="Frames are scaled to this width before analysis, px")
    loop: bool = Field(True, description="Start a video file or image folder again at its end")
    detectors: list[str] | None = Field(
        None, description="Names of the vision detectors to run (vision.detectors); the defaults if unset"
    )
    zones: list[ZoneSpec] = Field(default_factory=list, description="Zones of the view")

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraSpec:
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"zone names must be unique per camera; repeated: {dupes}")
        return self


class DeviceSpec(_Spec):
    id: Ident
    kind: DeviceKind = Field(description="What the device is")
    name: str | None = Field(None, max_length=200, description="Label shown to people")
    position: FloorPosition | None = Field(None, description="Place on the floor plan")
    location: LatLon | None = Field(None, description="Place on the map, for devices outside buildings")
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Per-metric valid range overriding the kind's, [min, max]"
    )
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Free metadata: model, installed_on, calibrated_on, bump_test_on"
    )
    gateway: Ident | None = Field(
        None, description="Id of the site gateway the device reports through; its last-will covers the device"
    )
    camera: CameraSpec | None = Field(
        None, description="For a plain IP camera: the stream SafeTwin's video analytics read and its zones"
    )
    contacts: list[Contact] = Field(
        default_factory=list, description="People to call, e.g. the family of a panic button's owner"
    )
    airflow_m3_h: float | None = Field(
        None, gt=0, le=1e6, description="A fan's airflow at full speed, m3/h; typical for its space if unset"
    )

    @model_validator(mode="after")
    def _camera_only_on_cameras(self) -> DeviceSpec:
        if self.camera is not None and self.kind != DeviceKind.CAMERA:
            raise ValueError(f"only camera devices take a 'camera' block; this one is a {self.kind.value}")
        if self.airflow_m3_h is not None and self.kind != DeviceKind.FAN:
            raise ValueError(f"only fans take 'airflow_m3_h'; this one is a {self.kind.value}")
        return self

    @model_validator(mode="after")
    def _check_ranges(self) -> DeviceSpec:
        known = METRICS[self.kind]
        for metric, (lo, hi) in self.ranges.items():
            if metric not in known:
                raise ValueError(
                    f"range given for metric {metric!r}, but a {self.kind.value} reports "
                    f"{sorted(known) or 'no metrics'}"
                )
            if lo >= hi:
                raise ValueError(f"range of {metric!r} must be [min, max] with min < max, got [{lo}, {hi}]")
        return self

    def metric_specs(self) -> dict[str, MetricSpec]:
        """The metrics this device reports, with its own ranges applied."""
        specs = dict(METRICS[self.kind])
        for metric, (lo, hi) in self.ranges.items():
            specs[metric] = MetricSpec(unit=specs[metric].unit, min=lo, max=hi)
        return specs


# Typical air volume (m3) and natural air changes per hour of each space kind, for spaces that do
# not give their own: what ventilation physics (simulator, closed-loop expectations) starts from.
SPACE_VOLUME_M3: dict[SpaceKind, float] = {
    SpaceKind.BASEMENT_GARAGE: 8000.0,
    SpaceKind.SEPTIC_TANK: 40.0,
    SpaceKind.SEWER_WELL: 12.0,
    SpaceKind.CELLAR: 150.0,
    SpaceKind.KITCHEN: 90.0,
    SpaceKind.PLANT_ROOM: 200.0,
    SpaceKind.WAREHOUSE: 3000.0,
    SpaceKind.LOBBY: 600.0,
}
SPACE_AIR_CHANGES_PER_H: dict[SpaceKind, float] = {
    SpaceKind.BASEMENT_GARAGE: 0.5,
    SpaceKind.SEPTIC_TANK: 0.1,
    SpaceKind.SEWER_WELL: 0.2,
    SpaceKind.CELLAR: 0.3,
    SpaceKind.KITCHEN: 2.0,
    SpaceKind.PLANT_ROOM: 1.0,
    SpaceKind.CONSTRUCTION_SITE: 20.0,
    SpaceKind.OUTDOOR: 20.0,
    SpaceKind.ROOF: 20.0,
}
DEFAULT_VOLUME_M3 = 300.0
DEFAULT_AIR_CHANGES_PER_H = 1.0
# A fan's airflow at full speed (m3/h) by the kind of space it ventilates, for fans that do not say
FAN_AIRFLOW_M3_H: dict[SpaceKind, float] = {
    SpaceKind.BASEMENT_GARAGE: 24000.0,
    SpaceKind.SEPTIC_TANK: 1200.0,
    SpaceKind.SEWER_WELL: 600.0,
    SpaceKind.CELLAR: 1500.0,
    SpaceKind.KITCHEN: 1500.0,
    SpaceKind.PLANT_ROOM: 2400.0,
}
DEFAULT_FAN_AIRFLOW_M3_H = 3000.0


class SpaceSpec(_Spec):
    id: Ident
    name: str = Field(min_length=1, max_length=200, description="Label shown to people")
    kind: SpaceKind = Field(description="What the space is; rules target space kinds")
    confined: bool = Field(False, description="A confined space: entry needs a permit")
    location: LatLon | None = Field(None, description="Place on the map, for spaces outside buildings")
    volume_m3: float | None = Field(
        None, gt=0, le=1e7, description="Air volume, m3; a typical one for the kind if unset"
    )
    air_changes_per_h: float | None = Field(
        None, ge=0, le=1000, description="Air changes per hour with no fan running, 1/h; typical if unset"
    )
    devices: list[DeviceSpec] = Field(default_factory=list)

    def volume(self) -> float:
        """Air volume in m3: the space's own, else the typical one of its kind."""
        return (
            self.volume_m3
            if self.volume_m3 is not None
            else SPACE_VOLUME_M3.get(self.kind, DEFAULT_VOLUME_M3)
        )

    def natural_air_changes(self) -> float:
        """Air changes per hour with every fan stopped: the space's own, else its kind's typical one."""
        if self.air_changes_per_h is not None:
            return self.air_changes_per_h
        return SPACE_AIR_CHANGES_PER_H.get(self.kind, DEFAULT_AIR_CHANGES_PER_H)


def fan_airflow_m3_h(fan: DeviceSpec, space: SpaceSpec) -> float:
    """A fan's airflow at full speed in m3/h: its own, else the typical one for the space it ventilates."""
    if fan.airflow_m3_h is not None:
        return fan.airflow_m3_h
    return FAN_AIRFLOW_M3_H.get(space.kind, DEFAULT_FAN_AIRFLOW_M3_H)


class FloorSpec(_Spec):
    level: int = Field(ge=-10, le=200, description="Floor number; negative below ground")
    name: str = Field(min_length=1, max_length=50, description="e.g. 'B1', '1F'")
    spaces: list[SpaceSpec] = Field(default_factory=list)


class BuildingSpec(_Spec):
    id: Ident
    name: str = Field(min_length=1, max_length=200, description="Label shown to people")
    location: LatLon = Field(description="Centre of the building on the map")
    footprint: list[tuple[float, float]] = Field(
        default_factory=list, description="Outline as [lon, lat] points (GeoJSON order), not closed"
    )
    floors_above: int = Field(1, ge=0, le=200, description="Storeys above ground")
    floors_below: int = Field(0, ge=0, le=10, description="Storeys below ground")
    floors: list[FloorSpec] = Field(default_factory=list, description="Floors that hold spaces")
    party: Ident | None = Field(None, description="Responsible party of this building, if not the site's")

    @model_validator(mode="after")
    def _check_footprint(self) -> BuildingSpec:
        if self.footprint and len(self.footprint) < 3:
            raise ValueError("footprint needs at least 3 [lon, lat] points")
        return self


class GatewaySpec(_Spec):
    """A field gateway (LoRa, NB-IoT, RS-485 concentrator) that relays devices' readings over MQTT."""

    id: Ident
    name: str = Field(min_length=1, max_length=200, description="Label shown to people")
    location: LatLon | None = Field(None, description="Place on the map")


class SiteSpec(_Spec):
    id: Ident
    name: str = Field(min_length=1, max_length=200, description="Label shown to people")
    kind: Literal["street", "community", "construction_site", "enterprise", "venue"] = Field(
        "community", description="What the site is"
    )
    street: str | None = Field(None, max_length=200, description="Street (sub-district) it belongs to")
    location: LatLon = Field(description="Centre of the site on the map")
    buildings: list[BuildingSpec] = Field(default_factory=list)
    spaces: list[SpaceSpec] = Field(default_factory=list, description="Spaces outside buildings")
    gateways: list[GatewaySpec] = Field(default_factory=list, description="Field gateways of the site")
    parties: SiteParties = Field(default_factory=SiteParties, description="Responsible party and escalation")


class TwinSpec(_Spec):
    version: Literal[1] = Field(1, description="Twin file format version")
    name: str = Field(min_length=1, max_length=200, description="Name of the district the twin covers")
    sites: list[SiteSpec] = Field(min_length=1)
    parties: list[PartySpec] = Field(default_factory=list, description="Parties that sites refer to")

    @model_validator(mode="after")
    def _check_party_refs(self) -> TwinSpec:
        known = {p.id for p in self.parties}
        for site in self.sites:
            refs = [(f"site {site.id!r} parties.{k}", v) for k, v in site.parties.model_dump().items() if v]
            refs += [(f"building {b.id!r} party", b.party) for b in site.buildings if b.party]
            for where, ref in refs:
                if ref not in known:
                    raise ValueError(f"{where} names party {ref!r}, which is not under 'parties'")
        return self
