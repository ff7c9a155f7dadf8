"""Password hashing (argon2) and opaque tokens kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_HASHER = PasswordHash((Argon2Hasher(),))
# Verified when a user name is unknown, so a failed login takes as long whether or not the user exists.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")

TOKEN_PREFIX = "sts_"  # session tokens
KEY_PREFIX = "stk_"  # API keys


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _HASHER.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """Whether `password` matches `hashed`; spends the same work when there is no hash."""
    return _HASHER.verify(password, hashed if hashed else _DUMMY_HASH) and bool(hashed)


def new_secret(prefix: str) -> str:
    """A new random token with a prefix that says what it is (256 bits of randomness)."""
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a token or key is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a, b)
