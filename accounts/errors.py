"""Errors of accounts, each carrying what the API needs to answer with."""

from __future__ import annotations


class AccountError(Exception):
    """Base of account errors."""


class AccountNotFound(AccountError):
    """No such user or key."""


class AccountConflict(AccountError):
    """A name already taken."""


class LoginFailed(AccountError):
    """Wrong user name or password (which one is not said)."""

    def __init__(self, username: str) -> None:
        super().__init__("the user name or password is wrong")
        self.username = username


class LoginLocked(AccountError):
    """Too many failed logins for this user name from this address."""

    def __init__(self, username: str, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed logins for '{username}' from this address; try again in {retry_after_s} s"
        )
        self.username = username
        self.retry_after_s = retry_after_s
