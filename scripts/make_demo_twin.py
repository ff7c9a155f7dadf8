"""Generate data/demo-twin.yaml: a fictional district of Guanlan street, Shenzhen Longhua, deterministic.

Run ``python scripts/make_demo_twin.py`` (``--check`` to fail if the committed file is stale).
"""

from __future__ import annotations

import argparse
import io
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

SEED = 20251121
OUT = Path(__file__).resolve().parent.parent / "data" / "demo-twin.yaml"
STREET = "观澜街道"
TODAY = date(2025, 11, 1)
M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class Spot:
    """A centre on the map and the rotation (degrees, counter-clockwise) of the layout around it."""

    lat: float
    lon: float
    rot: float


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    estate: str
    spot: Spot
    towers: int


@dataclass(frozen=True)
class Construction:
    code: str
    name: str
    spot: Spot
    buildings: list[tuple[str, int]]  # name, storeys when finished


COMMUNITIES = [
    Community("lj", "澜景社区", "澜景花园", Spot(22.7215, 114.0562, 12.0), 6),
    Community("gh", "桂湖社区", "桂湖雅苑", Spot(22.7148, 114.0471, -8.0), 5),
    Community("ct", "翠田社区", "翠田新村", Spot(22.7062, 114.0618, 20.0), 6),
    Community("yl", "云岭社区", "云岭嘉园", Spot(22.7289, 114.0405, 5.0), 5),
]
CONSTRUCTION = [
    Construction("gdb", "观澜大道北段道路提升工程", Spot(22.7181, 114.0662, 35.0), []),
    Construction(
        "ljp2", "澜景花园二期住宅项目", Spot(22.7238, 114.0611, 12.0), [("在建1号楼", 32), ("在建2号楼", 28)]
    ),
    Construction("ghxx", "桂湖小学扩建工程", Spot(22.7122, 114.0436, -8.0), [("教学综合楼（在建）", 6)]),
]
SITE_ZONES = [("主出入口", 2), ("塔吊作业区", 1), ("钢筋加工区", 1), ("基坑作业区", 2), ("材料堆场", 1)]
ROAD_ZONES = [("K0+200 施工围挡段", 2), ("K0+650 管线开挖段", 2), ("K1+100 交叉口导改段", 1)]
CANTEEN = [("lel_sensor", 0.25, 0.7), ("lel_sensor", 0.6, 0.8), ("co_sensor", 0.4, 0.6),
           ("valve", 0.05, 0.95), ("fan", 0.9, 0.9), ("camera", 0.5, 0.95)]  # fmt: skip
SHOP_KITCHEN = [("lel_sensor", 0.2, 0.8), ("valve", 0.05, 0.9), ("camera", 0.5, 0.9)]
SHOPS = ["沙县小吃后厨", "湘菜馆后厨", "潮汕牛肉火锅后厨", "早餐店后厨", "烧腊店后厨"]
CAMERA_ALGOS = ["fall", "smoke", "fire", "no_helmet", "climbing", "unregistered_person"]
# kind: (id abbreviation, label, model or None)
KINDS: dict[str, tuple[str, str, str | None]] = {
    "co_sensor": ("co", "一氧化碳探测器", "HX-CO200"),
    "ch4_sensor": ("ch4", "甲烷探测器", "HX-CH4100"),
    "h2s_sensor": ("h2s", "硫化氢探测器", "HX-H2S50"),
    "o2_sensor": ("o2", "氧气探测器", "HX-O2-25"),
    "lel_sensor": ("lel", "可燃气体探测器", "HX-EX100"),
    "multi_gas": ("mg", "复合气体检测仪", "HX-MG4"),
    "temp_humidity": ("th", "温湿度传感器", "HX-TH20"),
    "camera": ("cam", "AI摄像机", None),
    "fan": ("fan", "排风机", None),
    "speaker": ("spk", "广播音柱", None),
    "valve": ("valve", "燃气紧急切断阀", None),
    "relay": ("relay", "控制继电器", None),
    "panic_button": ("sos", "一键呼叫按钮", None),
}
GAS_KINDS = {"co_sensor", "lel_sensor", "multi_gas", "h2s_sensor", "ch4_sensor", "o2_sensor"}
# battery-powered wireless sensors report through a site gateway; wired devices connect directly
WIRELESS_KINDS = GAS_KINDS | {"temp_humidity", "panic_button"}
# gateway number, where it is (east, north metres from the site centre) and what it is called
COMMUNITY_GATEWAYS = [(1, 0.0, 45.0, "LoRa网关1"), (2, 0.0, -60.0, "LoRa网关2")]
HOMES_GW, CONFINED_GW = 1, 2  # elderly homes report through gateway 1, septic tanks and sewer wells through 2
# a construction site's wireless gas detector watches the zone where work goes underground
PIT_ZONES = {"基坑作业区", "K0+650 管线开挖段"}
# the camera SafeTwin's own video analytics read (a plain IP camera): a generated demo video
DEMO_CAMERA = "gl-ljp2-z01-cam-01"


def demo_camera_block() -> CommentedMap:
    """The `camera:` block of the demo camera: the video of scripts/make_demo_vision.py and its zones."""
    zones: list[tuple[str, str, list[list[float]]]] = [
        ("基坑边", "restricted", [[0, 0.53], [0.3, 0.53], [0.3, 1], [0, 1]]),
        ("作业面", "construction", [[0.3, 0.25], [0.84, 0.25], [0.84, 1], [0.3, 1]]),
        ("脚手架爬梯", "ladder", [[0.84, 0.05], [0.97, 0.05], [0.97, 1], [0.84, 1]]),
    ]
    out = CommentedMap(source="data/vision/demo-site.mp4", fps=3)
    out["detectors"] = flow_seq(["person_lying", "helmet", "fire_smoke"])
    out["zones"] = [
        CommentedMap(name=n, kind=k, polygon=flow_seq([flow_seq(pt) for pt in poly])) for n, k, poly in zones
    ]
    return out


def flow(value: dict[str, Any]) -> CommentedMap:
    """Wrap a small mapping so that it is written on one line."""
    out = CommentedMap(value)
    out.fa.set_flow_style()
    return out


def flow_seq(value: list[Any]) -> CommentedSeq:
    """Wrap a short list so that it is written on one line."""
    out = CommentedSeq(value)
    out.fa.set_flow_style()
    return out


def moved(at: Spot, east_m: float, north_m: float) -> Spot:
    """The point east_m / north_m metres away in at's rotated layout grid."""
    a = math.radians(at.rot)
    e = east_m * math.cos(a) - north_m * math.sin(a)
    n = east_m * math.sin(a) + north_m * math.cos(a)
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(at.lat))
    return Spot(at.lat + n / M_PER_DEG_LAT, at.lon + e / m_per_deg_lon, at.rot)


@dataclass
class Gen:
    """Deterministic builder state: the random stream and per-prefix device counters."""

    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    counters: dict[str, int] = field(default_factory=dict)

    def latlon(self, at: Spot) -> CommentedMap:
        """A {lat, lon} mapping written on one line."""
        return flow({"lat": round(at.lat, 6), "lon": round(at.lon, 6)})

    def jitter(self, metres: float) -> float:
        """A random offset in [-metres, metres]."""
        return self.rng.uniform(-metres, metres)

    def footprint(self, at: Spot, *, big: bool = False) -> CommentedSeq:
        """A rectangle or an L-shape of plausible size around the centre, as [lon, lat] points."""
        w = self.rng.uniform(34, 56) if big else self.rng.uniform(20, 34)
        d = self.rng.uniform(22, 40) if big else self.rng.uniform(16, 26)
        if self.rng.random() < 0.35:  # L-shape: cut a corner out
            cw, cd = w * self.rng.uniform(0.35, 0.5), d * self.rng.uniform(0.35, 0.5)
            pts = [
                (-w / 2, -d / 2),
                (w / 2, -d / 2),
                (w / 2, d / 2 - cd),
                (w / 2 - cw, d / 2 - cd),
                (w / 2 - cw, d / 2),
                (-w / 2, d / 2),
            ]
        else:
            pts = [(-w / 2, -d / 2), (w / 2, -d / 2), (w / 2, d / 2), (-w / 2, d / 2)]
        out = CommentedSeq()
        for e, n in pts:
            p = moved(at, e, n)
            out.append(flow_seq([round(p.lon, 7), round(p.lat, 7)]))
        return out

    def meta(self, kind: str) -> dict[str, Any]:
        """Plausible maintenance metadata; some sensors are overdue on purpose."""
        rng = self.rng
        installed = TODAY - timedelta(days=rng.randint(200, 1400))
        out: dict[str, Any] = {}
        model = KINDS[kind][2]
        if model is not None:
            out["model"] = model
        out["installed_on"] = installed.isoformat()
        if kind in GAS_KINDS and rng.random() < 0.7:
            out["calibrated_on"] = (TODAY - timedelta(days=rng.randint(10, 420))).isoformat()
            out["bump_test_on"] = (TODAY - timedelta(days=rng.randint(1, 120))).isoformat()
        if kind == "camera":
            out["link"] = rng.choice(["wired", "wired", "4g"])
            out["algorithms"] = flow_seq(sorted(rng.sample(CAMERA_ALGOS, rng.randint(2, 4))))
        if kind == "fan":
            out["rated_current_a"] = rng.choice([2.6, 4.2, 5.8, 8.1])
        return out

    def device(
        self,
        prefix: str,
        kind: str,
        where: str,
        *,
        x: float | None = None,
        y: float | None = None,
        **extra: Any,
    ) -> CommentedMap:
        """One device with a readable id like gl-lj-b03-b1-co-02."""
        abbr, label, _ = KINDS[kind]
        key = f"{prefix}-{abbr}"
        self.counters[key] = n = self.counters.get(key, 0) + 1
        dev = CommentedMap(id=f"{key}-{n:02d}", kind=kind, name=f"{where}{label}{n:02d}")
        if x is not None and y is not None:
            jx, jy = self.rng.uniform(-0.03, 0.03), self.rng.uniform(-0.03, 0.03)
            dev["position"] = flow(
                {"x": round(min(max(x + jx, 0.02), 0.98), 3), "y": round(min(max(y + jy, 0.02), 0.98), 3)}
            )
        for k, v in extra.items():
            dev[k] = v
        dev["meta"] = flow(self.meta(kind)) if kind != "camera" else CommentedMap(self.meta(kind))
        return dev


def gateway_id(site_id: str, n: int) -> str:
    """The id of a site's n-th gateway, like gl-lj-gw-01."""
    return f"{site_id}-gw-{n:02d}"


def via(gateway: str, devices: list[CommentedMap]) -> list[CommentedMap]:
    """Link the wireless ones among `devices` to a gateway (key before their meta); wired ones stay direct."""
    for dev in devices:
        if dev["kind"] in WIRELESS_KINDS:
            dev.insert(len(dev) - 1, "gateway", gateway)
    return devices


def gateways(
    g: Gen, site_id: str, site_name: str, at: Spot, spots: list[tuple[int, float, float, str]]
) -> list[CommentedMap]:
    """The site's field gateways, placed without drawing from the random stream."""
    return [
        CommentedMap(
            id=gateway_id(site_id, n), name=f"{site_name}{label}", location=g.latlon(moved(at, e, n_m))
        )
        for n, e, n_m, label in spots
    ]


def space(sid: str, name: str, kind: str, devices: list[CommentedMap], **extra: Any) -> CommentedMap:
    """A space mapping with its devices last."""
    out = CommentedMap(id=sid, name=name, kind=kind)
    for k, v in extra.items():
        out[k] = v
    out["devices"] = devices
    return out


def garage(g: Gen, bid: str, floor: str, estate: str) -> CommentedMap:
    """A basement garage: CO sensors on a grid and exhaust fans at the shafts."""
    prefix = f"{bid}-{floor.lower()}"
    n = g.rng.randint(3, 5)
    devs = [
        g.device(prefix, "co_sensor", f"{floor}车库", x=(i + 0.5) / n, y=0.3 + 0.4 * (i % 2))
        for i in range(n)
    ]
    if g.rng.random() < 0.2:
        devs[0]["ranges"] = CommentedMap(co=flow_seq([0, 500]))
    devs += [g.device(prefix, "fan", f"{floor}车库", x=x, y=0.92) for x in (0.08, 0.92)]
    return space(f"{prefix}-garage", f"{estate}{floor}地下车库", "basement_garage", devs)


def plant_room(g: Gen, bid: str, floor: str, title: str) -> CommentedMap:
    """A plant room with a gas meter: combustible-gas detector, shut-off valve, temperature/humidity."""
    prefix = f"{bid}-{floor.lower()}"
    devs = [
        g.device(prefix, "lel_sensor", "设备房", x=0.3, y=0.4),
        g.device(prefix, "valve", "进户", x=0.1, y=0.1),
        g.device(prefix, "temp_humidity", "设备房", x=0.7, y=0.6),
    ]
    return space(f"{prefix}-plant", title, "plant_room", devs)


def placed(g: Gen, prefix: str, where: str, items: list[tuple[str, float, float]]) -> list[CommentedMap]:
    """Devices of the given kinds at the given (x, y) floor positions."""
    return [g.device(prefix, kind, where, x=x, y=y) for kind, x, y in items]


def elderly_home(g: Gen, bid: str, level: int, gw: str) -> list[CommentedMap]:
    """A home of an elderly person living alone: one-key call button, kitchen gas alarm and shut-off.

    The button and the gas alarm are battery-powered and report through the site gateway `gw`.
    """
    room = f"{level}{g.rng.randint(1, 4):02d}"
    prefix = f"{bid}-{level}f"
    sos = via(gw, placed(g, prefix, f"{room}室", [("panic_button", 0.5, 0.5)]))
    sos[0]["contacts"] = [family_contact(sos[0]["id"])]
    gas = via(gw, placed(g, prefix, f"{room}厨房", [("lel_sensor", 0.3, 0.2), ("valve", 0.1, 0.1)]))
    return [
        space(f"{prefix}-r{room}", f"{room}室（独居老人）", "residence", sos),
        space(f"{prefix}-k{room}", f"{room}室厨房", "kitchen", gas),
    ]


FAMILY = [("王", "女儿"), ("李", "儿子"), ("张", "侄女"), ("刘", "儿子"), ("陈", "女儿")]


def family_contact(device_id: str) -> CommentedMap:
    """The family member a one-key call reaches, picked from the id so the random stream is untouched."""
    n = sum(device_id.encode())
    surname, role = FAMILY[n % len(FAMILY)]
    return flow(
        {
            "name": f"{surname}{'女士' if role in ('女儿', '侄女') else '先生'}",
            "role": role,
            "phone": f"138{n % 10_000:04d}{(n * 7919) % 10_000:04d}",
        }
    )


# The grid-management chain of the demo street, and who answers for each site (Anjing's chain:
# grid worker -> community -> street -> district).  Construction sites sit in a community's grid.
DISTRICT = ("gl-district", "龙华区应急管理局（演示）", "district", "区应急指挥中心值班室")
STREET_PARTY = ("gl-street", "观澜街道办事处", "street", "街道安全生产办值班员")
SITE_COMMUNITY = {"gdb": "lj", "ljp2": "lj", "ghxx": "gh"}
OWNERS = {"gdb": "龙华市政工程有限公司项目部", "ljp2": "澜景置业二期项目部", "ghxx": "龙华教育基建项目部"}


def party(pid: str, name: str, kind: str, duty: str) -> CommentedMap:
    n = sum(pid.encode())
    contact = flow({"name": duty, "role": "duty", "phone": f"0755{(n * 104729) % 10_000_000:08d}"})
    return CommentedMap(id=pid, name=name, kind=kind, contacts=flow_seq([contact]))


def parties() -> list[CommentedMap]:
    """Every party of the demo: district, street, each community's office, grid worker and property
    company, and each construction site's owner."""
    out = [party(*DISTRICT), party(*STREET_PARTY)]
    for c in COMMUNITIES:
        out.append(party(f"gl-{c.code}-office", f"{c.name}工作站", "community", f"{c.name}值班员"))
        out.append(party(f"gl-{c.code}-grid", f"{c.name}第一网格", "grid_worker", f"{c.name}网格员"))
        out.append(
            party(f"gl-{c.code}-pm", f"{c.estate}物业服务中心", "property_company", f"{c.estate}物业值班")
        )
    for k in CONSTRUCTION:
        out.append(party(f"gl-{k.code}-owner", OWNERS[k.code], "site_owner", "项目安全员"))
    return out


def site_parties(owner: str, community_code: str) -> CommentedMap:
    return flow(
        {
            "owner": owner,
            "grid": f"gl-{community_code}-grid",
            "community": f"gl-{community_code}-office",
            "street": STREET_PARTY[0],
            "district": DISTRICT[0],
        }
    )


def tower(g: Gen, code: str, estate: str, idx: int, at: Spot) -> CommentedMap:
    """A residential tower with garages, a plant room, a lobby camera and a few elderly homes."""
    rng = g.rng
    bid = f"gl-{code}-b{idx:02d}"
    above, below = rng.randint(18, 33), rng.choice([1, 1, 2])
    floors: dict[int, tuple[str, list[CommentedMap]]] = {}
    plant = plant_room(g, bid, "B1", f"{idx}栋B1燃气/水泵设备房")
    floors[-1] = ("B1", [garage(g, bid, "B1", f"{idx}栋"), plant])
    if below == 2:
        floors[-2] = ("B2", [garage(g, bid, "B2", f"{idx}栋")])
    lobby = [g.device(f"{bid}-1f", "camera", "大堂", x=0.5, y=0.2)]
    if rng.random() < 0.4:
        lobby.append(g.device(f"{bid}-1f", "camera", "电梯厅", x=0.8, y=0.5))
    floors[1] = ("1F", [space(f"{bid}-1f-lobby", f"{idx}栋首层大堂", "lobby", lobby)])
    if rng.random() < 0.45:
        shop = rng.choice(SHOPS)
        devs = placed(
            g, f"{bid}-1f", "后厨", [("lel_sensor", 0.2, 0.8), ("valve", 0.05, 0.9), ("camera", 0.5, 0.9)]
        )
        floors[1][1].append(space(f"{bid}-1f-shop", f"{idx}栋底商{shop}", "kitchen", devs))
    for level in sorted(rng.sample(range(3, above + 1), rng.randint(0, 3))):
        floors[level] = (f"{level}F", elderly_home(g, bid, level, gateway_id(f"gl-{code}", HOMES_GW)))
    return building(g, bid, f"{estate}{idx}栋", at, above=above, below=below, floors=floors)


def building(
    g: Gen,
    bid: str,
    name: str,
    at: Spot,
    *,
    above: int,
    below: int,
    floors: dict[int, tuple[str, list[CommentedMap]]],
    big: bool = False,
) -> CommentedMap:
    """A building with a footprint around `at` and the floors that hold spaces."""
    out = CommentedMap(id=bid, name=name, location=g.latlon(at))
    out["footprint"] = g.footprint(at, big=big)
    out["floors_above"], out["floors_below"] = above, below
    out["floors"] = [CommentedMap(level=lv, name=nm, spaces=sp) for lv, (nm, sp) in sorted(floors.items())]
    return out


def centre(g: Gen, code: str, community: str, idx: int, at: Spot) -> CommentedMap:
    """The community service centre: an elderly canteen kitchen, a lobby and a plant room."""
    bid = f"gl-{code}-b{idx:02d}"
    p = f"{bid}-1f"
    lobby = placed(g, p, "服务大厅", [("camera", 0.5, 0.3)])
    kitchen = placed(g, p, "后厨", CANTEEN)
    floors = {
        1: ("1F", [
            space(f"{p}-lobby", "服务大厅", "lobby", lobby),
            space(f"{p}-kitchen", "长者饭堂后厨", "kitchen", kitchen),
            plant_room(g, bid, "1F", "配电/燃气表间"),
        ]),
        2: ("2F", [space(f"{bid}-2f-office", "网格工作站", "office", [])]),
    }  # fmt: skip
    return building(g, bid, f"{community}党群服务中心", at, above=4, below=0, floors=floors, big=True)


def ex_rated(devs: list[CommentedMap]) -> None:
    """Fans and relays in confined spaces are explosion-proof (they may be switched in methane)."""
    for dev in devs:
        if dev["kind"] in ("fan", "relay"):
            dev["meta"]["explosion_proof"] = True


def confined(g: Gen, code: str, at: Spot) -> list[CommentedMap]:
    """Septic tanks and sewer wells: gas detection, ventilation, disinfection, biodegradation."""
    out: list[CommentedMap] = []
    gw = gateway_id(f"gl-{code}", CONFINED_GW)
    for i in (1, 2):
        sid = f"gl-{code}-st{i:02d}"
        where = g.latlon(moved(at, g.jitter(120), -110 - 30 * i))
        devs = [g.device(sid, "multi_gas", f"{i}号化粪池"), g.device(sid, "fan", f"{i}号化粪池")]
        if i == 2:
            devs.insert(1, g.device(sid, "h2s_sensor", f"{i}号化粪池"))
        devs += [g.device(sid, "relay", f"{i}号化粪池"), g.device(sid, "relay", f"{i}号化粪池")]
        devs[-2]["name"], devs[-1]["name"] = f"{i}号化粪池消毒系统", f"{i}号化粪池生物降解系统"
        devs[-2]["meta"]["drives"], devs[-1]["meta"]["drives"] = "disinfection", "biodegradation"
        ex_rated(devs)
        via(gw, devs)
        out.append(space(sid, f"{i}号化粪池", "septic_tank", devs, confined=True, location=where))
    for i in range(1, 4):
        sid = f"gl-{code}-sw{i:02d}"
        where = g.latlon(moved(at, -150 + 100 * i, 130 + g.jitter(20)))
        if i % 2:
            devs = [g.device(sid, "multi_gas", f"W-{i:02d}污水井")]
        else:
            devs = [g.device(sid, k, f"W-{i:02d}污水井") for k in ("h2s_sensor", "ch4_sensor", "o2_sensor")]
        devs.append(g.device(sid, "fan" if i == 1 else "relay", f"W-{i:02d}污水井"))
        ex_rated(devs)
        via(gw, devs)
        out.append(space(sid, f"W-{i:02d}污水井", "sewer_well", devs, confined=True, location=where))
    return out


def community(g: Gen, c: Community) -> CommentedMap:
    """A residential community: towers on a grid, a service centre, septic tanks and sewer wells."""
    site = CommentedMap(id=f"gl-{c.code}", name=c.name, kind="community", street=STREET)
    site["location"] = g.latlon(c.spot)
    site["gateways"] = gateways(g, f"gl-{c.code}", c.name, c.spot, COMMUNITY_GATEWAYS)
    blds = []
    for i in range(c.towers):
        east, north = (i % 3 - 1) * 75.0 + g.jitter(6), (i // 3 - 0.5) * 90.0 + g.jitter(6)
        blds.append(tower(g, c.code, c.estate, i + 1, moved(c.spot, east, north)))
    blds.append(centre(g, c.code, c.name, c.towers + 1, moved(c.spot, 150.0, 0.0)))
    site["buildings"] = blds
    site["spaces"] = confined(g, c.code, c.spot)
    site["parties"] = site_parties(f"gl-{c.code}-pm", c.code)
    return site


def construction(g: Gen, c: Construction) -> CommentedMap:
    """A construction site: AI cameras (wired or 4G) with speakers at each zone, buildings going up."""
    sid = f"gl-{c.code}"
    site = CommentedMap(id=sid, name=c.name, kind="construction_site", street=STREET)
    site["location"] = g.latlon(c.spot)
    site["gateways"] = gateways(g, sid, c.name, c.spot, [(1, -60.0, -45.0, "LoRa网关")])
    # the pit detectors came after the rest of the demo: their own random stream keeps the rest as it was
    pit = Gen(rng=random.Random(f"{SEED}-{sid}"), counters=g.counters)
    buildings = []
    for i, (bname, storeys) in enumerate(c.buildings, start=1):
        at = moved(c.spot, -40 + 80 * (i - 1), 30)
        bid = f"{sid}-b{i:02d}"
        buildings.append(building(g, bid, bname, at, above=storeys, below=1, floors={}, big=True))
    site["buildings"] = buildings
    spaces = []
    for z, (zname, cams) in enumerate(SITE_ZONES if c.buildings else ROAD_ZONES, start=1):
        zid = f"{sid}-z{z:02d}"
        devs = [g.device(zid, "camera", zname) for _ in range(cams)] + [g.device(zid, "speaker", zname)]
        for d in devs:  # a site lives for months: its devices went in recently, cameras on 4G if short-lived
            d["meta"]["installed_on"] = (TODAY - timedelta(days=g.rng.randint(20, 240))).isoformat()
            if d["kind"] == "camera" and not c.buildings:
                d["meta"]["link"] = "4g"
            if d["id"] == DEMO_CAMERA:
                d["camera"] = demo_camera_block()
        where = g.latlon(moved(c.spot, -90 + 45 * z, -35 + g.jitter(10)))
        if zname in PIT_ZONES:
            gas = pit.device(zid, "multi_gas", zname)
            meta = gas["meta"]
            meta["installed_on"] = (TODAY - timedelta(days=pit.rng.randint(20, 240))).isoformat()
            for k in ("calibrated_on", "bump_test_on"):  # not before it was installed
                if k in meta:
                    meta[k] = max(meta[k], meta["installed_on"])
            devs += via(gateway_id(sid, 1), [gas])
        spaces.append(space(zid, zname, "construction_site", devs, location=where))
    site["spaces"] = spaces
    site["parties"] = site_parties(f"{sid}-owner", SITE_COMMUNITY[c.code])
    return site


def make_twin() -> CommentedMap:
    """Build the whole demo twin as ruamel round-trip data."""
    g = Gen()
    sites = [community(g, c) for c in COMMUNITIES]
    sites += [construction(g, c) for c in CONSTRUCTION]
    return CommentedMap(version=1, name="深圳市龙华区观澜街道（演示）", sites=sites, parties=parties())


def render(twin: CommentedMap) -> str:
    """YAML text with a header, Chinese characters kept readable."""
    yaml = YAML(typ="rt")
    yaml.width = 200
    yaml.allow_unicode = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    buf.write(
        "# SafeTwin demo twin: a fictional part of Guanlan street, Longhua district, Shenzhen.\n"
        "# Generated by scripts/make_demo_twin.py (deterministic); edit the script, not this file.\n"
    )
    yaml.dump(twin, buf)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) data/demo-twin.yaml."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is not what would be written")
    args = ap.parse_args(argv)
    text = render(make_twin())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python scripts/make_demo_twin.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
