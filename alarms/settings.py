"""Settings of the alarm domain: deadlines, escalation, credit score, emergency categories, texts.

Durations are in seconds (as everywhere in SafeTwin's settings); the domain works in epoch ms.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.alarms import Severity

MS_PER_DAY = 86_400_000

# Every field a text template may use; settings are refused if a template names another one.
TEMPLATE_FIELDS = {
    "place": "1栋B1地下车库",
    "what": "一氧化碳超标",
    "severity": "报警",
    "message": "co 180 ppm > 150 ppm for 60 s",
    "minutes": 30,
    "order": "wo-1",
    "party": "澜景社区网格员",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeneralDeadlines(_Section):
    """Time a responsible party has to fix a general hazard before it becomes a work order."""

    warning: float = Field(1800.0, gt=0, description="Warning-level hazard, seconds")
    alarm: float = Field(900.0, gt=0, description="Alarm-level hazard, seconds")

    def ms(self, severity: Severity) -> int:
        """Deadline for a general hazard at `severity`, ms (an emergency never gets one: alarm's is used)."""
        return int((self.warning if severity is Severity.WARNING else self.alarm) * 1000)


class SeverityDurations(_Section):
    """A duration per severity, seconds."""

    warning: float = Field(gt=0, description="For warning-level work orders, seconds")
    alarm: float = Field(gt=0, description="For alarm-level work orders, seconds")
    emergency: float = Field(gt=0, description="For emergency work orders, seconds")

    def ms(self, severity: Severity) -> int:
        """The duration for `severity`, ms."""
        return int(float(getattr(self, severity.value)) * 1000)


class CreditSettings(_Section):
    """Credit score of responsible parties (Guanlan): deductions, recovery and the two lists."""

    initial: float = Field(100.0, gt=0, description="Score of a party with no history, and the cap, points")
    overdue_deduction: float = Field(5.0, ge=0, description="Deducted when a work order goes overdue, points")
    repeat_deduction: float = Field(
        2.0,
        ge=0,
        description="Deducted when the same rule fires again at the same place in the window, points",
    )
    repeat_window_days: float = Field(7.0, gt=0, description="Window of the repeated-hazard rule, days")
    repeat_exempt_categories: list[str] = Field(
        default_factory=lambda: ["panic", "offline", "sensor_fault"],
        description="Rule categories that never count as a repeated hazard (not the party's doing)",
    )
    recovery_points: float = Field(1.0, ge=0, description="Given back per clean period, points")
    recovery_period_days: float = Field(
        7.0, gt=0, description="A period with no deduction and no overdue open order earns recovery, days"
    )
    key_supervision_below: float = Field(
        80.0, description="Below this a party is on the key-supervision list (more inspections), points"
    )
    training_below: float = Field(
        60.0, description="Below this a party must take safety training and an interview, points"
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> CreditSettings:
        if not self.training_below <= self.key_supervision_below <= self.initial:
            raise ValueError(
                "credit thresholds must satisfy training_below <= key_supervision_below <= initial, got "
                f"{self.training_below}, {self.key_supervision_below}, {self.initial}"
            )
        return self

    @property
    def repeat_window_ms(self) -> int:
        return int(self.repeat_window_days * MS_PER_DAY)

    @property
    def recovery_period_ms(self) -> int:
        return int(self.recovery_period_days * MS_PER_DAY)


class MessageTemplate(_Section):
    """One text in Chinese and English; fields in braces: {place} {what} {severity} {message} ..."""

    zh: str = Field(min_length=1, max_length=500, description="Chinese text")
    en: str = Field(min_length=1, max_length=500, description="English text")

    @model_validator(mode="after")
    def _check_fields(self) -> MessageTemplate:
        for lang, text in (("zh", self.zh), ("en", self.en)):
            try:
                text.format(**TEMPLATE_FIELDS)
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(
                    f"{lang} template {text!r} cannot be filled ({err}); use only "
                    + ", ".join("{" + k + "}" for k in TEMPLATE_FIELDS)
                ) from err
        return self


def _default_broadcasts() -> dict[str, MessageTemplate]:
    return {
        "default": MessageTemplate(
            zh="请注意：{place}{what}，请立即处理",
            en="Attention: {what} at {place}. Please deal with it now.",
        ),
        "no_helmet": MessageTemplate(
            zh="请注意：{place}有人员未佩戴安全帽，请立即佩戴安全帽",
            en="Attention: someone at {place} has no safety helmet on. Please wear your safety helmet.",
        ),
        "climbing": MessageTemplate(
            zh="请注意：{place}有人员登高作业，请系好安全带，注意安全",
            en="Attention: work at height at {place}. Please fasten your safety harness.",
        ),
        "intrusion": MessageTemplate(
            zh="请注意：您已进入{place}危险区域，请立即离开",
            en="Attention: you have entered a restricted area at {place}. Please leave now.",
        ),
        "unregistered_person": MessageTemplate(
            zh="请注意：{place}有未登记人员进入，请立即到项目部进行实名登记",
            en="Attention: an unregistered person entered {place}. Please register at the site office now.",
        ),
        "gas": MessageTemplate(
            zh="请注意：{place}{what}，请立即通风并疏散无关人员",
            en="Attention: {what} at {place}. Ventilate now and keep people out.",
        ),
        "garbage_exposed": MessageTemplate(
            zh="请注意：{place}垃圾暴露，请及时清理",
            en="Attention: exposed garbage at {place}. Please clear it.",
        ),
    }


class AlarmSettings(_Section):
    """Everything the alarm manager, work orders and credit score need to know."""

    hazard_deadline_s: GeneralDeadlines = Field(
        default_factory=GeneralDeadlines,
        description="General hazard: time to fix it after the broadcast before a work order is made",
    )
    work_order_deadline_s: SeverityDurations = Field(
        default_factory=lambda: SeverityDurations(warning=86_400.0, alarm=14_400.0, emergency=3_600.0),
        description="Time to handle a work order, by severity, seconds",
    )
    escalation_period_s: SeverityDurations = Field(
        default_factory=lambda: SeverityDurations(warning=86_400.0, alarm=14_400.0, emergency=1_800.0),
        description="An overdue work order climbs one level of the escalation chain per period, seconds",
    )
    emergency_categories: list[str] = Field(
        default_factory=lambda: ["fire", "smoke", "fall", "panic"],
        description="Rule categories (or camera labels in the evidence) that are emergencies at any severity",
    )
    notify_channels: list[str] = Field(
        default_factory=lambda: ["sms", "push"],
        min_length=1,
        description="Channels for emergencies, dispatches and escalations: sms, push, email, webhook",
    )
    language: Literal["zh", "en", "zh+en"] = Field(
        "zh", description="Language of broadcasts and notifications; 'zh+en' says both, Chinese first"
    )
    broadcasts: dict[str, MessageTemplate] = Field(
        default_factory=_default_broadcasts,
        description="Site broadcast of a general hazard by rule id, camera label or category, else 'default'",
    )
    emergency_notice: MessageTemplate = Field(
        MessageTemplate(
            zh="【紧急】{place}{what}（{severity}）：{message}，请立即处置",
            en="[EMERGENCY] {what} at {place} ({severity}): {message}. Respond now.",
        ),
        description="Notification of an emergency",
    )
    dispatch_notice: MessageTemplate = Field(
        MessageTemplate(
            zh="【工单{order}】{place}{what}未在时限内整改，请在{minutes}分钟内处理",
            en="[Work order {order}] {what} at {place} was not fixed in time; handle it in {minutes} min.",
        ),
        description="Notification to the responsible party when an overdue hazard becomes a work order",
    )
    escalation_notice: MessageTemplate = Field(
        MessageTemplate(
            zh="【工单{order}超时升级】{place}{what}已超过处置时限，升级至{party}督办",
            en="[Work order {order} overdue] {what} at {place} is past its deadline; escalated to {party}.",
        ),
        description="Notification to the escalation level an overdue work order reaches",
    )
    credit: CreditSettings = Field(default_factory=CreditSettings, description="Credit score of parties")
    rearm_window_s: float = Field(
        600.0,
        ge=0,
        description="A pending alarm that cleared without becoming active is reopened, not raised anew, when "
        "its condition returns within this many seconds (flapping makes no alarm storm)",
    )
    open_on_no_data: bool = Field(
        True,
        description="A no_data or error signal with no open alarm opens one in that state (warning, no "
        "graded response); False: such signals only move alarms that are already open",
    )
    keep_closed: int = Field(
        20_000, ge=0, description="Closed alarms and work orders kept in memory for the API and KPIs, count"
    )

    @field_validator("broadcasts")
    @classmethod
    def _need_default(cls, value: dict[str, MessageTemplate]) -> dict[str, MessageTemplate]:
        if "default" not in value:
            raise ValueError(
                "broadcasts needs a 'default' template, used when no rule, label or category matches"
            )
        return value

    def is_emergency_category(self, *names: str) -> bool:
        """True if any of the names (category, camera label) is an emergency category."""
        return any(n in self.emergency_categories for n in names if n)
