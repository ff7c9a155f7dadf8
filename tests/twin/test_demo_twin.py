"""The demo twin: a realistic Guanlan-street district that loads and holds what the demo needs."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import TypeAdapter

from core.contract import DeviceId
from twin.kinds import DeviceKind, SpaceKind
from twin.loader import load_twin_file
from twin.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo-twin.yaml"


@pytest.fixture(scope="module")
def twin() -> Twin:
    return Twin(load_twin_file(DEMO))


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_demo_twin", ROOT / "scripts" / "make_demo_twin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_committed_file_is_what_the_script_writes() -> None:
    script = _script()
    assert DEMO.read_text(encoding="utf-8") == script.render(script.make_twin()), (
        "data/demo-twin.yaml is stale: run python scripts/make_demo_twin.py"
    )


def test_sites_buildings_and_device_count(twin: Twin) -> None:
    kinds = Counter(site.kind for site in twin.sites.values())
    assert kinds["community"] >= 3
    assert kinds["construction_site"] >= 2
    assert len(twin.buildings) >= 20
    assert 300 <= len(twin.devices) <= 600
    assert all(site.street == "观澜街道" for site in twin.sites.values())


def test_every_building_has_a_plausible_footprint_near_longhua(twin: Twin) -> None:
    for b in twin.buildings.values():
        assert len(b.footprint) >= 4, b.id
        assert 22.65 < b.location.lat < 22.76 and 114.00 < b.location.lon < 114.10, b.id
        lons = [p[0] for p in b.footprint]
        lats = [p[1] for p in b.footprint]
        width_m = (max(lons) - min(lons)) * 111_320 * math.cos(math.radians(b.location.lat))
        depth_m = (max(lats) - min(lats)) * 111_320
        assert 15 < width_m < 90 and 15 < depth_m < 90, (b.id, width_m, depth_m)
        assert min(lons) < b.location.lon < max(lons) and min(lats) < b.location.lat < max(lats), b.id
        assert b.floors_above >= 1


def test_septic_tanks_and_sewer_wells_are_confined_with_gas_detection(twin: Twin) -> None:
    wet = [s for s in twin.spaces.values() if s.kind in (SpaceKind.SEPTIC_TANK, SpaceKind.SEWER_WELL)]
    assert {s.kind for s in wet} == {SpaceKind.SEPTIC_TANK, SpaceKind.SEWER_WELL}
    for s in wet:
        assert s.confined, s.id
        assert s.location is not None, s.id
        kinds = {d.kind for d in s.devices}
        assert kinds & {DeviceKind.MULTI_GAS, DeviceKind.H2S_SENSOR}, s.id
        assert kinds & {DeviceKind.FAN, DeviceKind.RELAY}, s.id
    septic_drives = {d.meta.get("drives") for s in wet if s.kind == SpaceKind.SEPTIC_TANK for d in s.devices}
    assert {"disinfection", "biodegradation"} <= septic_drives


def test_spaces_carry_the_devices_their_rules_need(twin: Twin) -> None:
    by_space: dict[str, set[DeviceKind]] = {}
    for d in twin.devices.values():
        by_space.setdefault(d.space, set()).add(d.kind)
    for sid, space in twin.spaces.items():
        kinds = by_space.get(sid, set())
        if space.kind == SpaceKind.BASEMENT_GARAGE:
            assert {DeviceKind.CO_SENSOR, DeviceKind.FAN} <= kinds, sid
        if space.kind == SpaceKind.PLANT_ROOM:
            assert {DeviceKind.LEL_SENSOR, DeviceKind.VALVE, DeviceKind.TEMP_HUMIDITY} <= kinds, sid
        if space.kind == SpaceKind.KITCHEN:
            assert {DeviceKind.LEL_SENSOR, DeviceKind.VALVE} <= kinds, sid
        if space.kind == SpaceKind.CONSTRUCTION_SITE:
            assert {DeviceKind.CAMERA, DeviceKind.SPEAKER} <= kinds, sid
            assert space.location is not None
        if space.kind == SpaceKind.LOBBY:
            assert DeviceKind.CAMERA in kinds, sid
    garages = {twin.place_of_space[s][2] for s, sp in twin.spaces.items() if sp.kind == "basement_garage"}
    assert garages == {-1, -2}
    assert sum(d.kind == DeviceKind.PANIC_BUTTON for d in twin.devices.values()) >= 10


def test_device_ids_are_readable_unique_and_valid(twin: Twin) -> None:
    valid = TypeAdapter(DeviceId)
    ids = list(twin.devices)
    assert len(ids) == len(set(ids))
    for device_id in ids:
        valid.validate_python(device_id)
        assert device_id.startswith("gl-") and device_id == device_id.lower()
    assert "gl-lj-b01-b1-co-01" in twin.devices


def test_positions_and_maintenance_dates(twin: Twin) -> None:
    in_buildings = [d for d in twin.devices.values() if d.building]
    assert all(d.spec.position is not None for d in in_buildings)
    dated = [d for d in twin.devices.values() if "calibrated_on" in d.spec.meta]
    assert len(dated) >= 50
    assert all("bump_test_on" in d.spec.meta for d in dated)
    assert any(d.spec.ranges for d in twin.devices.values())


WIRED = {DeviceKind.FAN, DeviceKind.VALVE, DeviceKind.CAMERA, DeviceKind.SPEAKER, DeviceKind.RELAY}
VIA_GATEWAY = {SpaceKind.SEPTIC_TANK, SpaceKind.SEWER_WELL, SpaceKind.RESIDENCE, SpaceKind.CONSTRUCTION_SITE}


def test_every_site_has_gateways_that_its_wireless_devices_report_through(twin: Twin) -> None:
    for site in twin.sites.values():
        assert 1 <= len(site.gateways) <= 2, site.id
        for gw in site.gateways:
            assert gw.id.startswith(f"{site.id}-gw-") and "网关" in gw.name and gw.location, gw.id
            assert twin.behind_gateway[gw.id], f"nothing reports through {gw.id}"
    for d in twin.devices.values():
        if d.spec.gateway is not None:  # a gateway of the device's own site
            assert d.spec.gateway in {g.id for g in twin.sites[d.site].gateways}, d.device_id
    linked = {d.device_id for d in twin.devices.values() if d.spec.gateway}
    assert len(linked) >= 60


def test_battery_sensors_use_gateways_and_wired_devices_connect_directly(twin: Twin) -> None:
    for d in twin.devices.values():
        gw = d.spec.gateway
        if d.kind in WIRED or d.space_kind in (SpaceKind.BASEMENT_GARAGE, SpaceKind.PLANT_ROOM):
            assert gw is None, d.device_id
        elif d.space_kind in VIA_GATEWAY:
            assert gw is not None, d.device_id
    homes = [d for d in twin.devices.values() if d.space_kind == SpaceKind.RESIDENCE]
    assert homes and all(d.spec.gateway for d in homes if d.kind == DeviceKind.PANIC_BUTTON)
    elderly_kitchens = {
        s for s, sp in twin.spaces.items() if sp.kind == SpaceKind.KITCHEN and "室厨房" in sp.name
    }
    kitchen_gas = [
        d for d in twin.devices.values() if d.space in elderly_kitchens and d.kind == DeviceKind.LEL_SENSOR
    ]
    assert kitchen_gas and all(d.spec.gateway for d in kitchen_gas)
    canteens = [
        d
        for d in twin.devices.values()
        if d.space_kind == SpaceKind.KITCHEN and d.space not in elderly_kitchens
    ]
    assert canteens and not any(d.spec.gateway for d in canteens)  # shops and canteens are wired


def test_every_site_has_a_responsible_party_and_a_full_escalation_chain() -> None:
    twin = Twin(load_twin_file(DEMO))
    for site_id in twin.sites:
        owner = twin.responsible_party(site_id)
        assert owner is not None and twin.parties[owner].kind in ("property_company", "site_owner")
        chain = [twin.parties[p].kind for p in twin.escalation_chain(site_id)]
        assert chain == ["grid_worker", "community", "street", "district"]
    buttons = [d for d in twin.devices.values() if d.kind == "panic_button"]
    assert buttons and all(d.spec.contacts and d.spec.contacts[0].phone for d in buttons)
