"""Scenario files: a scripted incident on a timeline, in simulated time, with a time-acceleration factor.

A scenario names the devices it involves (the fleet is cut down to them), how fast simulated time runs
(``speed``: simulated seconds per wall second), where on the clock it starts (``start_time``, for
traffic by time of day), the air of its spaces, and a timeline of steps: gas sources, activity
changes, faults, camera detections, devices going offline, local switching, speed changes and notes.
Errors name the file, the line and the field, as the twin loader's do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from core.contract import DetectionLabel
from core.errors import SafeTwinError
from simulators.faults import AnyFault
from twin.loader import _field_path, _line_of, _plain
from twin.model import Ident

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class ScenarioError(SafeTwinError):
    """A scenario that cannot be loaded or does not fit the twin; names the file, the line and the field."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")
        self.file, self.line, self.field = file, line, field


def parse_duration(value: Any) -> Any:
    """Seconds from a number, '90s', '5m', '1h30m' or 'HH:MM:SS'; anything else is left to fail."""
    if isinstance(value, str):
        text = value.strip()
        if ":" in text:
            parts = text.split(":")
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                return int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
            raise ValueError(f"{value!r} is not HH:MM:SS")
        m = _DURATION.match(text)
        if not text or m is None:
            raise ValueError(f"{value!r} is not a duration: use seconds, '90s', '5m', '1h30m' or 'HH:MM:SS'")
        return sum(float(g) * u for g, u in zip(m.groups(), _UNITS.values(), strict=True) if g)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, description="Simulated seconds")]
Gas = Literal["co", "h2s", "ch4", "lel", "o2"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Step(_Model):
    at: Duration = Field(description="When, from the start of the scenario, in simulated time")


class SourceStep(_Step):
    """A gas source starts in a space (a leak, a release, idling cars), for a while or for good."""

    do: Literal["source"]
    space: Ident
    gas: Gas
    rate: float = Field(
        description="Emission, unit x m3/h: ppm (co, h2s), %LEL (ch4, lel), %vol (o2, negative)"
    )
    lasts: Duration | None = Field(None, alias="for", description="How long it emits; for good if unset")
    label: str = Field("", max_length=200, description="What it is, for the log")
    valve: Ident | None = Field(None, description="Gas shut-off valve that stops this source when closed")


class ActivityStep(_Step):
    """The built-in sources of a space change: traffic in a garage, fermentation in a septic tank."""

    do: Literal["activity"]
    space: Ident
    factor: float = Field(ge=0, le=1000, description="Multiplier of the space's built-in sources (1 = usual)")


class FaultStep(_Step):
    """A fault starts on a sensor or an actuator."""

    do: Literal["fault"]
    device: Ident
    fault: AnyFault


class ClearFaultStep(_Step):
    """A device's faults end (those of one type, or all)."""

    do: Literal["clear_fault"]
    device: Ident
    type: str | None = Field(None, description="Fault type to clear; every fault if unset")


class DetectionStep(_Step):
    """A camera sees something: a detection event (new, updates, end) on the contract's detection topic."""

    do: Literal["detection"]
    camera: Ident
    label: DetectionLabel
    lasts: Duration = Field(30.0, alias="for", description="How long the incident is seen, simulated s")
    score: float = Field(0.9, ge=0, le=1, description="Confidence, 0..1")
    zones: list[str] = Field(default_factory=list, description="Zones the object is in")
    box: tuple[float, float, float, float] | None = Field(None, description="x1, y1, x2, y2, fractions")


class OfflineStep(_Step):
    """A device or a gateway goes offline: its readings stop and its last-will is published."""

    do: Literal["offline"]
    device: Ident


class OnlineStep(_Step):
    """A device or gateway comes back: birth message, readings again."""

    do: Literal["online"]
    device: Ident


class ActuateStep(_Step):
    """Someone switches an actuator at its local panel: it changes and reports its state (no command)."""

    do: Literal["actuate"]
    device: Ident
    action: str = Field("set", description="Action, as in COMMAND_PARAMS")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters")


class SpeedStep(_Step):
    """Time runs at another speed from here on (e.g. real time while an alarm plays out)."""

    do: Literal["speed"]
    speed: float = Field(gt=0, le=100_000, description="Simulated seconds per wall second")


class NoteStep(_Step):
    """A line in the scenario's output (e.g. 'permit opened'), for drills and test harnesses."""

    do: Literal["note"]
    text: str = Field(min_length=1, max_length=500)


Step = Annotated[
    SourceStep
    | ActivityStep
    | FaultStep
    | ClearFaultStep
    | DetectionStep
    | OfflineStep
    | OnlineStep
    | ActuateStep
    | SpeedStep
    | NoteStep,
    Field(discriminator="do"),
]


class AirSpec(_Model):
    """Overrides of a space's air for this scenario."""

    volume_m3: float | None = Field(None, gt=0, description="Air volume, m3")
    air_changes_per_h: float | None = Field(None, ge=0, description="Natural air changes per hour, 1/h")
    activity: float = Field(1.0, ge=0, le=1000, description="Multiplier of the built-in sources")


class Scenario(_Model):
    """A scripted incident."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = Field(min_length=1, max_length=200, description="What happens, in a line")
    description: str = Field("", max_length=4000, description="The story, and what SafeTwin should do")
    speed: float = Field(60.0, gt=0, le=100_000, description="Simulated seconds per wall second")
    duration: Duration = Field(description="Length in simulated time")
    start_time: str | None = Field(
        None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Simulated time of day at the start, HH:MM China time",
    )
    interval_s: float = Field(1.0, gt=0, le=3600, description="Wall seconds between two readings of a device")
    gateway_batch: bool = Field(False, description="Send gateway batches instead of one message per reading")
    seed: int = Field(0, description="Seed of noise and drift")
    devices: list[Ident] = Field(default_factory=list, description="Devices involved (the fleet is cut down)")
    spaces: list[Ident] = Field(default_factory=list, description="Spaces whose every device is involved")
    air: dict[Ident, AirSpec] = Field(default_factory=dict, description="Air of spaces, by space id")
    timeline: list[Step] = Field(default_factory=list, description="Steps, in any order (sorted by 'at')")


def _error(root: Any, filename: str, loc: tuple[int | str, ...], message: str) -> ScenarioError:
    return ScenarioError(message, file=filename, line=_line_of(root, loc), field=_field_path(loc) or None)


def parse_scenario(text: str, filename: str = "<scenario>") -> tuple[Scenario, Any]:
    """Parse and validate scenario YAML; returns the scenario and the YAML tree (for later line numbers)."""
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ScenarioError(f"not valid YAML: {err.problem}", file=filename, line=line) from err
    if not isinstance(root, CommentedMap):
        raise ScenarioError(
            "a scenario is a mapping with name, title, duration, timeline", file=filename, line=1
        )
    data = _plain(root)
    data.setdefault("name", Path(filename).stem if filename != "<scenario>" else None)
    try:
        return Scenario.model_validate(data), root
    except ValidationError as err:
        first = err.errors()[0]
        loc = _known_loc(data, tuple(first["loc"]))
        more = f" (and {err.error_count() - 1} more errors)" if err.error_count() > 1 else ""
        raise _error(root, filename, loc, f"{first['msg']}{more}") from err


def _known_loc(root: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The error location without pydantic's union tags ('timeline.0.source.rate' -> 'timeline.0.rate')."""
    out: list[int | str] = []
    node = root
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and part in _TAGS:
            continue  # a discriminator tag, not a key of the file
        out.append(part)
        in_map = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        node = node[part] if in_map or in_list else None
    return tuple(out)


def _tags(*unions: Any) -> frozenset[str]:
    """The literal tags of discriminated unions' members."""
    members = [m for u in unions for m in get_args(get_args(u)[0])]
    tags = [get_args(f.annotation) for m in members for k, f in m.model_fields.items() if k in ("do", "type")]
    return frozenset(t[0] for t in tags if t and isinstance(t[0], str))


_TAGS = _tags(Step, AnyFault)


def scenario_path(name: str) -> Path:
    """A scenario file: a path as given, else simulators/scenarios/NAME.yaml."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return SCENARIO_DIR / f"{name}.yaml"


def load_scenario(name: str) -> tuple[Scenario, Any, str]:
    """Read a scenario by name or path; returns it, its YAML tree and its file name."""
    path = scenario_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        known = ", ".join(list_scenarios()) or "none"
        raise ScenarioError(
            f"cannot read the scenario: {err.strerror} (shipped: {known})", file=str(path)
        ) from err
    scenario, root = parse_scenario(text, str(path))
    return scenario, root, str(path)


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
