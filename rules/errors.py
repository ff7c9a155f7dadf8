"""The rule package's exceptions; each names what a person needs to fix it."""

from __future__ import annotations

from core.errors import SafeTwinError


class RuleError(SafeTwinError):
    """Base of the rule engine's errors."""


class RuleLoadError(RuleError, ValueError):
    """A rule pack that cannot be loaded; names the file, the 1-based line and the field."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")
        self.file, self.line, self.field = file, line, field


class RuleOverrideError(RuleError, ValueError):
    """An override a facility manager asked for that the administrator's bounds do not allow."""

    def __init__(self, message: str, *, rule_id: str, field: str | None = None) -> None:
        super().__init__(f"override of rule {rule_id!r}: {message}")
        self.rule_id, self.field = rule_id, field
