"""Alarm settings refuse what cannot work, naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alarms.settings import AlarmSettings, CreditSettings, MessageTemplate
from core.alarms import Severity


def test_defaults_make_sense() -> None:
    s = AlarmSettings()
    assert s.hazard_deadline_s.ms(Severity.WARNING) == 30 * 60_000
    assert s.work_order_deadline_s.ms(Severity.EMERGENCY) == 3_600_000
    assert s.is_emergency_category("camera", "fall") and not s.is_emergency_category("gas", "")
    assert s.broadcasts["no_helmet"].zh.endswith("请立即佩戴安全帽")


def test_template_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"\{where\}"):
        MessageTemplate(zh="{where}", en="x")


def test_broadcasts_need_a_default_and_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="default"):
        AlarmSettings(broadcasts={"no_helmet": MessageTemplate(zh="a", en="b")})
    with pytest.raises(ValidationError, match="extra"):
        AlarmSettings.model_validate({"deadline": 5})


def test_credit_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="training_below <= key_supervision_below"):
        CreditSettings(key_supervision_below=50, training_below=60)
