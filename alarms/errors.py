"""The alarm domain's exception family; the API maps NotFound to 404, InvalidTransition to 409."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import SafeTwinError


class AlarmError(SafeTwinError):
    """Base of the alarm domain's errors."""


class NotFound(AlarmError):
    """No alarm, work order, source or party with that id."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"no {kind} with id {ident!r}")
        self.kind, self.ident = kind, ident


class InvalidTransition(AlarmError):
    """An action the record's current state does not allow; names the state and what is allowed."""

    def __init__(self, kind: str, ident: str, *, state: str, action: str, allowed: Sequence[str]) -> None:
        nxt = ", ".join(allowed) if allowed else "none"
        super().__init__(f"cannot {action} {kind} {ident}: it is {state}; allowed next: {nxt}")
        self.kind, self.ident, self.state, self.action = kind, ident, state, action
        self.allowed = list(allowed)


class InvalidRequest(AlarmError):
    """A request whose arguments cannot be used (a shelve that ends in the past); the API answers 422."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
