"""Site speakers: `play` a preset or text-to-speech text, `stop`; done on the device's 'succeeded'."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from actuators.drivers.base import Driver, DriverConfig


class SpeakerConfig(DriverConfig):
    """Speakers: a broadcast plays at most 10 minutes."""

    type: Literal["speaker"] = "speaker"
    max_on_s: float | None = Field(600.0, gt=0, description="Longest broadcast, seconds")
    evacuation_presets: list[str] = Field(
        default_factory=lambda: ["evacuate", "evacuation"],
        description="Presets that order people out; they need two independent sources of evidence",
    )


class SpeakerDriver(Driver):
    kind: ClassVar[str] = "speaker"

    def done(self, state: dict[str, Any], action: str, params: dict[str, Any]) -> bool:
        return state.get("playing") is (action == "play")

    def expected_state(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"playing": action == "play"}

    def active(self, state: dict[str, Any]) -> bool:
        return bool(state.get("playing"))

    def activates(self, action: str, params: dict[str, Any]) -> bool:
        return action == "play"

    def release(self) -> tuple[str, dict[str, Any]]:
        return "stop", {}

    def restore(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return None if state.get("playing") else ("stop", {})

    def replaces(self, action: str, older_action: str) -> bool:
        return action == "stop"  # announcements queue up; a stop ends them all

    def needs_evidence(self, action: str, params: dict[str, Any]) -> bool:
        return self.evacuation(action, params)

    def evacuation(self, action: str, params: dict[str, Any]) -> bool:
        """Whether the command is an evacuation broadcast."""
        presets = getattr(self.config, "evacuation_presets", [])
        return action == "play" and params.get("preset") in presets
