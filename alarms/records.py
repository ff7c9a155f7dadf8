"""The alarms in memory: open ones by (rule, source), recently closed ones, and every alarm's history."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from alarms.errors import NotFound
from core.alarms import Alarm, AlarmEvent, AlarmState

Key = tuple[str, str]  # (rule_id, source_id)


class AlarmRecords:
    """Index of alarms; at most one open alarm per (rule_id, source_id)."""

    def __init__(self, keep_closed: int) -> None:
        self.keep_closed = keep_closed
        self._alarms: dict[str, Alarm] = {}
        self._open: dict[Key, str] = {}
        self._history: dict[str, list[AlarmEvent]] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._last_closed: dict[Key, str] = {}

    def open_for(self, rule_id: str, source_id: str) -> Alarm | None:
        """The open alarm of a rule on a source, if any."""
        alarm_id = self._open.get((rule_id, source_id))
        return self._alarms[alarm_id] if alarm_id is not None else None

    def last_closed(self, rule_id: str, source_id: str) -> Alarm | None:
        """The most recently cleared alarm of a rule on a source, while it is still in memory."""
        alarm_id = self._last_closed.get((rule_id, source_id))
        return self._alarms.get(alarm_id) if alarm_id is not None else None

    def find(self, alarm_id: str) -> Alarm | None:
        """The alarm if it is in memory."""
        return self._alarms.get(alarm_id)

    def get(self, alarm_id: str) -> Alarm:
        """The alarm, or NotFound."""
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            raise NotFound("alarm", alarm_id)
        return alarm

    def history(self, alarm_id: str) -> list[AlarmEvent]:
        """Every event of the alarm, oldest first."""
        return list(self._history.get(alarm_id, []))

    def open_alarms(self) -> list[Alarm]:
        """Alarms not cleared."""
        return [self._alarms[i] for i in self._open.values()]

    def all(self) -> list[Alarm]:
        """Every alarm in memory, open and recently closed."""
        return list(self._alarms.values())

    def put(self, alarm: Alarm) -> None:
        """Store a new version of an alarm; a cleared one leaves the open index."""
        self._alarms[alarm.id] = alarm
        key = (alarm.rule_id, alarm.source_id)
        if alarm.state is AlarmState.CLEARED:
            if self._open.get(key) == alarm.id:
                del self._open[key]
            self._last_closed[key] = alarm.id
            self._retire(alarm.id)
        else:
            self._open[key] = alarm.id
            self._closed.pop(alarm.id, None)  # reopened
            if self._last_closed.get(key) == alarm.id:
                del self._last_closed[key]

    def add_event(self, event: AlarmEvent) -> None:
        """Append one line to an alarm's history."""
        self._history.setdefault(event.alarm_id, []).append(event)

    def restore(self, alarm: Alarm, history: Sequence[AlarmEvent]) -> None:
        """Put back an alarm loaded from the store."""
        self._history[alarm.id] = list(history)
        self.put(alarm)

    def _retire(self, alarm_id: str) -> None:
        """Keep at most `keep_closed` closed alarms, forgetting the oldest."""
        self._closed[alarm_id] = None
        self._closed.move_to_end(alarm_id)
        while len(self._closed) > self.keep_closed:
            old, _ = self._closed.popitem(last=False)
            self._alarms.pop(old, None)
            self._history.pop(old, None)
