"""The actuator side's exception family; the API maps each to a problem+json status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import SafeTwinError

if TYPE_CHECKING:
    from actuators.records import CommandRecord


class ActuatorError(SafeTwinError):
    """Base of the actuator side's errors."""

    def __init__(self, message: str, *, device_id: str | None = None) -> None:
        super().__init__(message)
        self.device_id = device_id


class UnknownActuator(ActuatorError):
    """No device with that id, or it is not an actuator SafeTwin can command (404)."""


class CommandInvalid(ActuatorError):
    """An action or parameters the device kind does not understand (422); names the field."""

    def __init__(self, message: str, *, device_id: str, field: str) -> None:
        super().__init__(message, device_id=device_id)
        self.field = field


class CommandRefused(ActuatorError):
    """An interlock refused the command (409); the refusal is stored as the command's record."""

    def __init__(self, record: CommandRecord) -> None:
        super().__init__(
            f"command to {record.device_id} refused: {record.detail}", device_id=record.device_id
        )
        self.record = record


class CommandNotFound(ActuatorError):
    """No command with that correlation id (404)."""
