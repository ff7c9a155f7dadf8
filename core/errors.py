"""Exception families shared by every package; each carries the context a person needs to act."""

from __future__ import annotations


class SafeTwinError(Exception):
    """Base of every SafeTwin error."""


class SettingsError(SafeTwinError):
    """Configuration that cannot be used; the message names the setting and the fix."""


class TwinLoadError(SafeTwinError):
    """A twin file that cannot be loaded; names the file, the line and the field."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")
        self.file, self.line, self.field = file, line, field


class IngestError(SafeTwinError):
    """A message refused by ingest; becomes a dead letter."""

    def __init__(
        self, reason: str, *, topic: str, device_id: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason, self.topic, self.device_id, self.field = reason, topic, device_id, field


class StoreError(SafeTwinError):
    """A history backend could not do what was asked (unreachable, refused, malformed answer)."""

    def __init__(self, message: str, *, backend: str, retryable: bool = True) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend, self.retryable = backend, retryable
