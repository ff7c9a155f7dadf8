"""What `safetwin simulate` runs: the plain fleet, a scenario, or scale mode; each returns an exit code."""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import SettingsError
from core.settings import Settings
from simulators.plan import check_against_twin
from simulators.scenario import list_scenarios, load_scenario
from twin.loader import load_twin_file
from twin.twin import Twin

log = logging.getLogger(__name__)


def scenarios_text() -> str:
    """One line per shipped scenario: name and title."""
    lines = []
    for name in list_scenarios():
        scenario, _, _ = load_scenario(name)
        lines.append(f"{name:<22} {scenario.title} ({scenario.duration / 60:.0f} min at x{scenario.speed:g})")
    return "\n".join(lines)


def scenario_main(
    settings: Settings,
    name: str,
    twin_path: Path,
    speed: float | None,
    interval_s: float | None = None,
    *,
    gateway_batch: bool = False,
) -> int:
    """Load a scenario, check it against the twin, run it to its end (0) or until Ctrl-C (130)."""
    from simulators.runner import run_scenario_main

    scenario, root, filename = load_scenario(name)
    if gateway_batch:
        scenario = scenario.model_copy(update={"gateway_batch": True})
    twin = Twin(load_twin_file(twin_path))
    check_against_twin(scenario, twin, root, filename)
    return run_scenario_main(
        settings, scenario, twin, speed=speed, interval_s=interval_s, out=lambda line: print(line, flush=True)
    )


def scale_command(
    settings: Settings,
    twin_path: Path | None,
    devices: int,
    rate: float,
    *,
    batch: int,
    count: int | None,
    duration_s: float | None,
) -> int:
    """Scale mode from the command line: bounded by count or duration (one of them is required)."""
    from simulators.scale import ScalePlan, scale_main

    if count is None and duration_s is None:
        raise SettingsError("scale mode needs a bound: --count C or --duration S")
    plan = ScalePlan(devices=devices, rate=rate, batch=batch, count=count, duration_s=duration_s)
    twin = Twin(load_twin_file(twin_path)) if twin_path is not None and twin_path.exists() else None
    return scale_main(settings.mqtt, plan, twin, client_id=f"{settings.simulator.client_id}-scale")
