"""Interlocks: actions that are unsafe in the current state are refused with a reason (pure logic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actuators.drivers import Driver
from actuators.drivers.speaker import SpeakerDriver


@dataclass(frozen=True, slots=True)
class Situation:
    """What the interlocks look at: the space's flammable gas level and the evidence of an emergency."""

    lel_pct: float | None  # highest %LEL (lel or ch4) in the device's space, None if never read
    lel_limit: float
    evidence: frozenset[str]  # independent sources (devices, cameras) with an active alarm nearby
    evidence_needed: int


def refusal(
    driver: Driver, explosion_proof: bool, action: str, params: dict[str, Any], situation: Situation
) -> str | None:
    """Why the command must not go out now, or None when it may."""
    lel = situation.lel_pct
    if driver.switches_load and not explosion_proof and lel is not None and lel >= situation.lel_limit:
        return (
            f"interlock: the space reads {lel:g} %LEL (limit {situation.lel_limit:g} %LEL) and this "
            f"{driver.kind} is not explosion-proof; switching it could ignite the gas. Ventilate with "
            "ex-rated equipment, or mark the device `explosion_proof: true` in the twin if it is"
        )
    if isinstance(driver, SpeakerDriver) and driver.evacuation(action, params):
        have = len(situation.evidence)
        if have < situation.evidence_needed:
            seen = ", ".join(sorted(situation.evidence)) or "none"
            return (
                f"interlock: an evacuation broadcast needs {situation.evidence_needed} independent sources "
                f"of evidence (active alarms from different devices or cameras nearby); found {have} ({seen})"
            )
    return None
