"""Settings of notification delivery: the configured channels (one discriminated union) and retries."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from actuators.channels.sms_http import SmsHttpConfig
from actuators.channels.smtp import SmtpConfig
from actuators.channels.webhook import WebhookConfig

# A new channel driver is one module with a config model (its own `type`) added here.
ChannelConfig = Annotated[WebhookConfig | SmtpConfig | SmsHttpConfig, Field(discriminator="type")]


class NotificationSettings(BaseModel):
    """Where notifications go and how hard SafeTwin tries."""

    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelConfig] = Field(
        default_factory=list, description="Channel drivers; a requested channel none serves is recorded"
    )
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per channel and notification")
    backoff_s: float = Field(2.0, ge=0, description="Wait before the second attempt; doubles each time, s")
    backoff_max_s: float = Field(60.0, ge=0, description="Longest wait between attempts, seconds")
    max_concurrent: int = Field(8, ge=1, le=256, description="Deliveries in flight at once")
    queue_max: int = Field(1000, ge=1, description="Notifications waiting; beyond, the oldest fails")
    failing_after: int = Field(
        3, ge=1, description="Notifications failed in a row on one channel before a SafeTwin system alarm"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationSettings:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channel names must be unique; repeated: {', '.join(dupes)}")
        if self.backoff_s > self.backoff_max_s:
            raise ValueError("backoff_s must not exceed backoff_max_s")
        return self
