"""The catalogue of device and space kinds: what each device kind measures, in which unit and range."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MetricSpec(BaseModel):
    """One metric a device kind reports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: str = Field(description="Unit of the value, e.g. 'ppm'")
    min: float = Field(description="Lowest value the sensor can report; below is a fault")
    max: float = Field(description="Highest value the sensor can report; above is a fault")


class DeviceKind(StrEnum):
    CO_SENSOR = "co_sensor"
    CH4_SENSOR = "ch4_sensor"
    H2S_SENSOR = "h2s_sensor"
    O2_SENSOR = "o2_sensor"
    LEL_SENSOR = "lel_sensor"
    MULTI_GAS = "multi_gas"
    TEMP_HUMIDITY = "temp_humidity"
    CAMERA = "camera"
    FAN = "fan"
    SPEAKER = "speaker"
    VALVE = "valve"
    RELAY = "relay"
    PANIC_BUTTON = "panic_button"
    ACCESS_READER = "access_reader"


class SpaceKind(StrEnum):
    BASEMENT_GARAGE = "basement_garage"
    SEPTIC_TANK = "septic_tank"
    SEWER_WELL = "sewer_well"
    CELLAR = "cellar"
    KITCHEN = "kitchen"
    CONSTRUCTION_SITE = "construction_site"
    PLANT_ROOM = "plant_room"
    LOBBY = "lobby"
    CORRIDOR = "corridor"
    RESIDENCE = "residence"
    SHOP = "shop"
    OFFICE = "office"
    WAREHOUSE = "warehouse"
    ROOF = "roof"
    OUTDOOR = "outdoor"


_BATTERY = {"battery": MetricSpec(unit="%", min=0, max=100), "rssi": MetricSpec(unit="dBm", min=-150, max=0)}
_CO = {"co": MetricSpec(unit="ppm", min=0, max=1000)}
_CH4 = {"ch4": MetricSpec(unit="%LEL", min=0, max=100)}
_H2S = {"h2s": MetricSpec(unit="ppm", min=0, max=200)}
_O2 = {"o2": MetricSpec(unit="%vol", min=0, max=30)}
_LEL = {"lel": MetricSpec(unit="%LEL", min=0, max=100)}

METRICS: dict[DeviceKind, dict[str, MetricSpec]] = {
    DeviceKind.CO_SENSOR: {**_CO, **_BATTERY},
    DeviceKind.CH4_SENSOR: {**_CH4, **_BATTERY},
    DeviceKind.H2S_SENSOR: {**_H2S, **_BATTERY},
    DeviceKind.O2_SENSOR: {**_O2, **_BATTERY},
    DeviceKind.LEL_SENSOR: {**_LEL, **_BATTERY},
    DeviceKind.MULTI_GAS: {**_CO, **_H2S, **_O2, **_LEL, **_CH4, **_BATTERY},
    DeviceKind.TEMP_HUMIDITY: {
        "temperature": MetricSpec(unit="°C", min=-40, max=125),
        "humidity": MetricSpec(unit="%RH", min=0, max=100),
        **_BATTERY,
    },
    DeviceKind.CAMERA: {},
    DeviceKind.FAN: {"current": MetricSpec(unit="A", min=0, max=200)},
    DeviceKind.SPEAKER: {},
    DeviceKind.VALVE: {},
    DeviceKind.RELAY: {},
    DeviceKind.PANIC_BUTTON: {"pressed": MetricSpec(unit="", min=0, max=1), **_BATTERY},
    DeviceKind.ACCESS_READER: {},
}

SENSOR_KINDS = frozenset(k for k, m in METRICS.items() if k not in (DeviceKind.FAN, DeviceKind.CAMERA) and m)
ACTUATOR_KINDS = frozenset({DeviceKind.FAN, DeviceKind.SPEAKER, DeviceKind.VALVE, DeviceKind.RELAY})
