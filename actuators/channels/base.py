"""What every notification channel driver is: a config model that builds a `Channel`, and its result."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actuators.response import Notification


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt gave: accepted or not, why, and whether trying again may help."""

    ok: bool
    detail: str
    retryable: bool = True


class Channel(ABC):
    """A configured notification channel driver."""

    def __init__(self, name: str, serves: frozenset[str]) -> None:
        self.name = name
        self.serves = serves

    @abstractmethod
    async def deliver(self, note: Notification) -> DeliveryResult:
        """Hand `note` to the channel; never raises for the channel's own failures."""


class ChannelSettings(BaseModel):
    """Fields every channel config has; each driver adds `type` and its own."""

    model_config = ConfigDict(extra="forbid")

    default_serves: ClassVar[tuple[str, ...]] = ()

    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Name in logs and outcomes"
    )
    serves: list[str] | None = Field(
        None,
        description="Channels asked for by alarms (sms, push, email, webhook) that this driver carries; "
        "default by type: webhook -> webhook, smtp -> email, sms_http -> sms",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="Time limit of one attempt, seconds")

    def served(self) -> frozenset[str]:
        """The requested channel names this driver carries."""
        return frozenset(self.serves if self.serves is not None else self.default_serves)

    def build(self) -> Channel:
        """The driver for this config."""
        raise NotImplementedError(f"{type(self).__name__} builds no channel")


def secret_from(value: SecretStr | None, file: Path | None, field: str) -> SecretStr | None:
    """`value`, or the stripped content of `file`; both given is an error."""
    if file is None:
        return value
    if value is not None:
        raise ValueError(f"give {field} or {field}_file, not both")
    try:
        return SecretStr(file.read_text(encoding="utf-8").strip())
    except OSError as err:
        raise ValueError(f"{field}_file {file} cannot be read: {err.strerror}") from err


def check_http_url(value: str) -> str:
    """An http(s) URL with a host (placeholders allowed in path and query)."""
    parts = urlsplit(re.sub(r"\{(phone|text)\}", "x", value))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"URL {value!r} is not understood: use http://host/path or https://host/path")
    return value


def http_outcome(status: int, body: str) -> DeliveryResult:
    """A gateway's HTTP answer as a result: 2xx taken; 408, 429 and 5xx worth retrying."""
    text = " ".join(body.split())[:200]
    if 200 <= status < 300:
        return DeliveryResult(True, f"HTTP {status}")
    retryable = status in (408, 425, 429) or status >= 500
    return DeliveryResult(False, f"HTTP {status}: {text}" if text else f"HTTP {status}", retryable)
