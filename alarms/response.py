"""Graded response: which grade an alarm gets, the texts it says, and the calls to the ResponseSink."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alarms.lifecycle import camera_label
from alarms.places import party_name, place_name
from alarms.ports import ResponseSink
from alarms.settings import AlarmSettings, MessageTemplate
from core.alarms import Alarm, AlarmSignal, Grade, Severity
from twin.twin import Twin

log = logging.getLogger(__name__)

SEVERITY_ZH = {Severity.WARNING: "预警", Severity.ALARM: "报警", Severity.EMERGENCY: "紧急"}


class Responder:
    """Renders broadcast and notification texts and hands them to the sink; a failing sink is logged."""

    def __init__(
        self,
        settings: AlarmSettings,
        twin: Twin,
        sink: ResponseSink | None,
        name_zh: Callable[[str], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self.twin = twin
        self.sink = sink
        self.name_zh = name_zh  # a rule's Chinese name by rule id, for Chinese texts

    def what(self, alarm: Alarm, lang: str) -> str:
        """The rule's name in `lang`: its Chinese name where it has one, else its name."""
        if lang == "zh" and self.name_zh is not None:
            return self.name_zh(alarm.rule_id) or alarm.rule_name
        return alarm.rule_name

    def grade_of(self, signal: AlarmSignal | Alarm, severity: Severity | None) -> Grade:
        """Emergency for severity emergency or an emergency category / camera label, else general."""
        if severity is Severity.EMERGENCY or self.settings.is_emergency_category(
            signal.category, camera_label(signal)
        ):
            return Grade.EMERGENCY
        return Grade.GENERAL

    def render(self, template: MessageTemplate, alarm: Alarm, **extra: Any) -> str:
        """Fill a template in the configured language(s)."""
        fields: dict[str, Any] = {
            "place": place_name(self.twin, alarm),
            "what": alarm.rule_name,
            "message": alarm.message,
            "minutes": 0,
            "order": alarm.work_order_id or "",
            "party": party_name(self.twin, alarm.party_id),
        }
        fields.update(extra)
        texts = []
        for lang in self.settings.language.split("+"):
            sev = SEVERITY_ZH[alarm.severity] if lang == "zh" else alarm.severity.value
            local = {**fields, "severity": sev, "what": extra.get("what") or self.what(alarm, lang)}
            texts.append((template.zh if lang == "zh" else template.en).format(**local))
        return " ".join(texts)

    def broadcast_template(self, alarm: Alarm) -> MessageTemplate:
        """The broadcast for an alarm: by rule id, then camera label, then category, then 'default'."""
        table = self.settings.broadcasts
        for key in (alarm.rule_id, camera_label(alarm), alarm.category):
            if key and key in table:
                return table[key]
        return table["default"]

    def broadcast(self, alarm: Alarm) -> tuple[str, str | None]:
        """Broadcast at the alarm's site; (text, error or None)."""
        text = self.render(self.broadcast_template(alarm), alarm)
        if self.sink is None:
            return text, "no response sink configured"
        try:
            self.sink.broadcast(alarm, text)
        except Exception as err:  # the sink is I/O: its failure is recorded, never fatal
            log.error("broadcast for alarm %s failed: %s", alarm.id, err)
            return text, f"{type(err).__name__}: {err}"
        return text, None

    def notify(
        self, alarm: Alarm, template: MessageTemplate, *, party_id: str | None = None, **extra: Any
    ) -> tuple[str, str | None]:
        """Notify on every configured channel; `party_id` redirects it (escalation); (text, error)."""
        target = alarm if party_id is None else alarm.model_copy(update={"party_id": party_id})
        text = self.render(template, target, **extra)
        if self.sink is None:
            return text, "no response sink configured"
        try:
            self.sink.notify(target, list(self.settings.notify_channels), text)
        except Exception as err:  # the sink is I/O: its failure is recorded, never fatal
            log.error("notification for alarm %s failed: %s", alarm.id, err)
            return text, f"{type(err).__name__}: {err}"
        return text, None
