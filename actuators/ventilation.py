"""Whether a space is being ventilated, and since when: what a confined-space permit waits for."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from twin.kinds import DeviceKind
from twin.state import LiveState
from twin.twin import Twin


class VentilationSource(Protocol):
    """Anything that knows since when the fans of a space have been confirmed running."""

    def running_since_ms(self, space_id: str) -> int | None:
        """Epoch ms since when ventilation has run without a break, or None if it does not run."""
        ...


def fan_running(state: Mapping[str, Any]) -> bool:
    """A fan's reported state says it runs: on, and turning if it reports its speed."""
    if state.get("on") is not True:
        return False
    rpm = state.get("rpm")
    return not isinstance(rpm, int | float) or rpm > 0


class FanStates:
    """Fans' running state from their reported `ActuatorState`s; a simple `VentilationSource`."""

    def __init__(self, twin: Twin) -> None:
        self.fans_by_space: dict[str, list[str]] = {}
        for dev in twin.devices.values():
            if dev.kind == DeviceKind.FAN:
                self.fans_by_space.setdefault(dev.space, []).append(dev.device_id)
        self._fans = {f for fans in self.fans_by_space.values() for f in fans}
        self._since: dict[str, int] = {}
        self._lock = threading.Lock()

    def on_state(self, device_id: str, state: Mapping[str, Any], ts: int) -> None:
        """A fan reported its state at `ts` (epoch ms); other devices are ignored."""
        if device_id not in self._fans:
            return
        with self._lock:
            if fan_running(state):
                self._since.setdefault(device_id, ts)
            else:
                self._since.pop(device_id, None)

    def sync(self, live: LiveState, now_ms: int) -> None:
        """Take the fans' states from live state; a change seen now counts from now (never earlier)."""
        for fan in self._fans:
            st = live.devices.get(fan)
            if st is None:
                continue
            running = st.online and st.actuator_state is not None and fan_running(st.actuator_state)
            if running != (fan in self._since):
                self.on_state(fan, st.actuator_state if running and st.actuator_state else {}, now_ms)

    def running_since_ms(self, space_id: str) -> int | None:
        with self._lock:
            since = [self._since[f] for f in self.fans_by_space.get(space_id, ()) if f in self._since]
        return min(since) if since else None


class _ActuatorLive(Protocol):
    state: dict[str, Any]
    online: bool
    active_since: int | None


class _Actuators(Protocol):
    def live(self, device_id: str) -> _ActuatorLive: ...


class TrackedFans:
    """Ventilation as the command lifecycle's state tracker sees it (states on its own connection)."""

    def __init__(self, twin: Twin, actuators: _Actuators) -> None:
        self.fans = FanStates(twin).fans_by_space
        self.actuators = actuators

    def running_since_ms(self, space_id: str) -> int | None:
        since = []
        for fan in self.fans.get(space_id, ()):
            try:
                live = self.actuators.live(fan)
            except KeyError:
                continue
            if live.online and live.active_since is not None and fan_running(live.state):
                since.append(live.active_since)
        return min(since) if since else None
