"""Run the simulated fleet: schedule readings on asyncio, publish them through one threaded MQTT client.

`DevicePublisher` (the MQTT side) lives in `simulators.gateway` and is re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import zlib
from collections.abc import Callable

from core.contract import Topics, now_ms
from core.settings import Settings
from simulators.gateway import DevicePublisher
from simulators.sensors import GasEvent, SensorFleet
from twin.twin import Twin

__all__ = ["DevicePublisher", "plan_groups", "run_simulator", "simulate_main"]

log = logging.getLogger(__name__)

SLOTS = 10  # one-message-per-device mode spreads the fleet over this many slots of each interval
STATS_EVERY_S = 60.0


def plan_groups(fleet: SensorFleet, twin: Twin, gateway_batch: bool) -> list[tuple[str | None, list[str]]]:
    """Who reports together: one group per site (as its gateway) or a stable slot per device."""
    if gateway_batch:
        by_site: dict[str, list[str]] = {}
        for device_id in fleet.devices:
            by_site.setdefault(twin.devices[device_id].site, []).append(device_id)
        return [(f"gw-{site}", ids) for site, ids in sorted(by_site.items())]
    slots: list[list[str]] = [[] for _ in range(SLOTS)]
    for device_id in fleet.devices:
        slots[zlib.crc32(device_id.encode()) % SLOTS].append(device_id)
    return [(None, ids) for ids in slots if ids]


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
    settings: Settings,
    twin: Twin,
    stop: asyncio.Event,
    *,
    seed: int = 0,
    publisher: DevicePublisher | None = None,
) -> None:
    """Publish readings of every sensor in the twin each simulator.interval_s until `stop` is set."""
    sim = settings.simulator
    fleet = SensorFleet(twin, seed=seed, event_probability=sim.event_probability, on_event=_log_event(twin))
    pub = publisher or DevicePublisher(settings.mqtt, topics=Topics(settings.mqtt.topic_prefix))
    groups = plan_groups(fleet, twin, sim.gateway_batch)
    if not groups:
        log.warning("the twin has no device that reports metrics; nothing to simulate")
    await asyncio.to_thread(pub.start, list(twin.devices))
    try:
        await _schedule(fleet, pub, groups, sim.interval_s, stop)
    finally:
        await asyncio.to_thread(pub.stop)
        log.info(
            "simulator stopped: %d messages published, %d acknowledged, %d dropped",
            pub.published,
            pub.acked,
            pub.dropped,
        )


async def _schedule(
    fleet: SensorFleet,
    pub: DevicePublisher,
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
        gateway_id, device_ids = groups[k % len(groups)]
        readings = fleet.read_many(device_ids, now_ms())
        if gateway_id is None:
            pub.publish_readings(readings)
        else:
            pub.publish_batch(gateway_id, readings)
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
                pub.published,
                pub.acked,
                pub.pending,
                pub.dropped,
                len(fleet.active_events(now_ms())),
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(due - now, 0.0))


def simulate_main(settings: Settings, twin: Twin, duration_s: float | None, *, seed: int = 0) -> int:
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
