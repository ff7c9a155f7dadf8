"""The one settings object of a SafeTwin process: the shared sections plus each package's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from actuators.channels.settings import NotificationSettings
from actuators.permit_settings import PermitSettings
from actuators.settings import ActuatorSettings
from alarms.settings import AlarmSettings
from core.settings import Settings, load_settings_as
from dashboard.settings import DashboardSettings
from rules.settings import RuleSettings
from vision.settings import VisionSettings


class SafeTwinSettings(Settings):
    """Everything `safetwin run` reads; environment variables `SAFETWIN_<SECTION>__<FIELD>`."""

    rules: RuleSettings = Field(default_factory=RuleSettings)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    actuators: ActuatorSettings = Field(default_factory=ActuatorSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    permits: PermitSettings = Field(default_factory=PermitSettings)


def load(
    config_file: Path | None = None, secrets_dir: Path | None = None, **overrides: Any
) -> SafeTwinSettings:
    """Load and validate; errors name each setting, its environment variable and the fix."""
    return load_settings_as(SafeTwinSettings, config_file, secrets_dir, **overrides)
