"""Run the simulated fleet: schedule readings on asyncio, publish them through threaded MQTT clients.

Each twin gateway with devices behind it gets its own client (id ``<simulator.client_id>-<gateway id>``)
with the gateway's last-will, as the real concentrator would have; devices without a gateway connect
directly and share one client (``<simulator.client_id>-direct``) that announces nothing for itself.
`DevicePublisher` (the MQTT side) lives in `simulators.gateway` and is re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from core.contract import Topics, now_ms
from core.settings import Settings
from simulators.actuators import actuators_of
from simulators.command_link import CommandLink
from simulators.gateway import DevicePublisher
from simulators.physics import Physics
from simulators.sensors import GasEvent, SensorFleet
from twin.twin import Twin

__all__ = ["DevicePublisher", "Uplinks", "plan_groups", "run_simulator", "simulate_main"]

log = logging.getLogger(__name__)

SLOTS = 10  # one-message-per-device mode spreads the fleet over this many slots of each interval
STATS_EVERY_S = 60.0
DIRECT = "direct"  # suffix of the client id (and batch topic id) of devices that connect directly


def direct_id(client_id: str) -> str:
    """Id of the client that carries the devices without a gateway, also its batch topic's gateway id."""
    return f"{client_id}-{DIRECT}"


def gateway_of(twin: Twin, device_id: str, direct: str) -> str:
    """The gateway a device reports through, or `direct` for one that connects directly."""
    gw = twin.devices[device_id].spec.gateway
    return gw if gw is not None and gw in twin.gateways else direct


def plan_groups(
    fleet: SensorFleet, twin: Twin, gateway_batch: bool, *, direct: str = "safetwin-sim-direct"
) -> list[tuple[str | None, list[str]]]:
    """Who reports together: one batch per gateway (and per site for direct devices) or a slot per device.

    In batch mode the first item of each group is the gateway id of its batch topic (`direct` for devices
    that connect directly); in one-message-per-device mode it is None.
    """
    if gateway_batch:
        by_uplink: dict[tuple[str, str], list[str]] = {}
        for device_id in fleet.devices:
            gw = gateway_of(twin, device_id, direct)
            site = twin.devices[device_id].site if gw == direct else ""
            by_uplink.setdefault((gw, site), []).append(device_id)
        return [(gw, ids) for (gw, _), ids in sorted(by_uplink.items())]
    slots: list[list[str]] = [[] for _ in range(SLOTS)]
    for device_id in fleet.devices:
        slots[zlib.crc32(device_id.encode()) % SLOTS].append(device_id)
    return [(None, ids) for ids in slots if ids]


@dataclass
class Uplinks:
    """The simulated fleet's MQTT clients by gateway id (the direct one under its own id)."""

    clients: dict[str, DevicePublisher] = field(default_factory=dict)
    births: dict[str, list[str]] = field(default_factory=dict)  # devices each client announces itself
    route: dict[str, DevicePublisher] = field(default_factory=dict)  # device id -> its client

    @classmethod
    def for_twin(cls, settings: Settings, twin: Twin, fleet: SensorFleet) -> Uplinks:
        """One client per gateway with devices behind it, one for the devices that connect directly."""
        prefix = settings.simulator.client_id
        direct = direct_id(prefix)
        topics = Topics(settings.mqtt.topic_prefix)
        out = cls()
        for device_id in twin.devices:
            gw = gateway_of(twin, device_id, direct)
            pub = out.clients.get(gw)
            if pub is None:
                pub = out.clients[gw] = DevicePublisher(
                    settings.mqtt,
                    gateway_id=gw,
                    client_id=direct if gw == direct else f"{prefix}-{gw}",
                    topics=topics,
                    announce=gw != direct,
                )
                out.births[gw] = []
            out.route[device_id] = pub
            # behind a gateway, its birth and last-will stand for the devices; one that sends no
            # telemetry would never be heard from, so it gets its own birth like a direct device
            if gw == direct or device_id not in fleet.devices:
                out.births[gw].append(device_id)
        return out

    async def start(self) -> None:
        """Connect every client in the background and queue the births."""
        for gw, pub in self.clients.items():
            await asyncio.to_thread(pub.start, self.births[gw])

    async def stop(self) -> None:
        """Stop every client at once: offline messages, flush, disconnect."""
        await asyncio.gather(*(asyncio.to_thread(pub.stop) for pub in self.clients.values()))

    def stats(self) -> tuple[int, int, int, int]:
        """Messages published, acknowledged, waiting and dropped, over all clients."""
        pubs = list(self.clients.values())
        return (
            sum(p.published for p in pubs),
            sum(p.acked for p in pubs),
            sum(p.pending for p in pubs),
            sum(p.dropped for p in pubs),
        )


def _log_event(twin: Twin) -> Callable[[GasEvent], None]:
    def log_event(event: GasEvent) -> None:
        space = twin.spaces[event.space_id]
        peaks = ", ".join(f"{m} {v:+.1f}" for m, v in event.deltas.items())
        log.info(
            "simulated gas event in %s (%s, %s): %s over %.0f s rise, %.0f s hold",
            event.space_id,
            space.name,
            space.kind.value,
            peaks,
            event.rise_s,
            event.hold_s,
        )

    return log_event


async def run_simulator(
    settings: Settings, twin: Twin, stop: asyncio.Event, *, seed: int | None = None
) -> None:
    """Publish readings of every sensor in the twin each simulator.interval_s until `stop` is set.

    `seed` overrides simulator.seed.
    """
    sim = settings.simulator
    fleet = SensorFleet(
        twin,
        seed=sim.seed if seed is None else seed,
        event_probability=sim.event_probability,
        on_event=_log_event(twin),
    )
    physics = fleet.attach_physics(Physics(twin, now_ms()))  # at speed 1, on the wall clock
    uplinks = Uplinks.for_twin(settings, twin, fleet)
    groups = plan_groups(fleet, twin, sim.gateway_batch, direct=direct_id(sim.client_id))
    if not groups:
        log.warning("the twin has no device that reports metrics; nothing to simulate")
    log.info(
        "simulated fleet: %d gateway clients, %d devices connecting directly",
        sum(pub.announce for pub in uplinks.clients.values()),
        sum(1 for pub in uplinks.route.values() if not pub.announce),
    )
    await uplinks.start()
    # actuators answer commands (acks, retained state); a fan switched on ventilates its space
    link = CommandLink(
        settings.mqtt, actuators_of(twin, physics), now_ms, client_id=f"{sim.client_id}-actuators"
    )
    await asyncio.to_thread(link.start)
    try:
        await _schedule(fleet, uplinks, groups, sim.interval_s, stop)
    finally:
        link.stop()
        await uplinks.stop()
        published, acked, _, dropped = uplinks.stats()
        log.info(
            "simulator stopped: %d messages published, %d acknowledged, %d dropped", published, acked, dropped
        )


def _publish(fleet: SensorFleet, uplinks: Uplinks, group: tuple[str | None, list[str]]) -> None:
    """Read a group's devices now and publish: one batch through its gateway, or a message per device."""
    gateway_id, device_ids = group
    readings = fleet.read_many(device_ids, now_ms())
    if gateway_id is not None:
        uplinks.clients[gateway_id].publish_batch(gateway_id, readings)
        return
    for r in readings:
        uplinks.route[r.device_id].publish_reading(r.device_id, r.metrics, r.ts)


async def _schedule(
    fleet: SensorFleet,
    uplinks: Uplinks,
    groups: list[tuple[str | None, list[str]]],
    interval_s: float,
    stop: asyncio.Event,
) -> None:
    """Walk the groups round-robin, spread evenly over each interval, until stop is set."""
    if not groups:
        await stop.wait()
        return
    loop = asyncio.get_running_loop()
    step = interval_s / len(groups)
    due = loop.time()
    next_stats = due + STATS_EVERY_S
    k = 0
    while not stop.is_set():
        _publish(fleet, uplinks, groups[k % len(groups)])
        k += 1
        due += step
        now = loop.time()
        if due < now - interval_s:  # far behind (a stalled loop): skip ahead rather than burst
            log.warning("simulator is %.1f s behind schedule; skipping ahead", now - due)
            due = now
        if now >= next_stats:
            next_stats = now + STATS_EVERY_S
            log.info(
                "simulator: %d published, %d acknowledged, %d waiting, %d dropped, %d gas events active",
                *uplinks.stats(),
                len(fleet.active_events(now_ms())),
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(due - now, 0.0))


def simulate_main(
    settings: Settings, twin: Twin, duration_s: float | None, *, seed: int | None = None
) -> int:
    """Run the simulator in the foreground (``safetwin simulate``) until Ctrl-C, SIGTERM or duration_s."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        timer = loop.call_later(duration_s, stop.set) if duration_s is not None else None
        try:
            await run_simulator(settings, twin, stop, seed=seed)
        finally:
            if timer is not None:
                timer.cancel()

    log.info(
        "simulating %d devices of %s every %.1f s (%s) on %s",
        len(twin.devices),
        twin.spec.name,
        settings.simulator.interval_s,
        "gateway batches" if settings.simulator.gateway_batch else "one message per device",
        settings.mqtt.url,
    )
    asyncio.run(main())
    return 0
