"""Accounts over a real database: users, logins, sessions, API keys, the audit log, rate limiting."""

from __future__ import annotations

import pytest

from accounts.errors import AccountConflict, LoginFailed, LoginLocked
from accounts.models import ApiKeyIn, UserIn, UserUpdate
from accounts.roles import Role
from accounts.secrets import digest
from accounts.service import AccountService
from store.sql.tables_accounts import AuditRow, UserRow


def _user(name: str, role: Role = Role.OPERATOR, **scope: object) -> UserIn:
    return UserIn.model_validate({"username": name, "password": "a-long-password", "role": role, **scope})


def test_password_is_stored_as_an_argon2_hash_and_login_gives_a_token(accounts: AccountService) -> None:
    accounts.create_user(_user("ops1"))
    row = accounts.store.user("ops1")
    assert isinstance(row, UserRow)
    assert row.password_hash.startswith("$argon2id$") and "a-long-password" not in row.password_hash
    session = accounts.login("ops1", "a-long-password", "10.0.0.1")
    principal = accounts.by_token(session.token)
    assert principal is not None and principal.name == "ops1" and principal.role is Role.OPERATOR
    assert "alarms:act" in principal.permissions and principal.scope.everything


def test_wrong_password_and_unknown_user_fail_alike(accounts: AccountService) -> None:
    accounts.create_user(_user("ops2"))
    with pytest.raises(LoginFailed) as wrong:
        accounts.login("ops2", "not-the-password", "10.0.0.1")
    with pytest.raises(LoginFailed) as unknown:
        accounts.login("nobody", "a-long-password", "10.0.0.1")
    assert str(wrong.value) == str(unknown.value)


def test_logout_revokes_the_token(accounts: AccountService) -> None:
    accounts.create_user(_user("ops3"))
    session = accounts.login("ops3", "a-long-password", "10.0.0.1")
    accounts.logout(session.principal)
    assert accounts.by_token(session.token) is None


def test_new_password_and_disabling_end_sessions(accounts: AccountService) -> None:
    accounts.create_user(_user("ops4"))
    first = accounts.login("ops4", "a-long-password", "10.0.0.1")
    accounts.update_user("ops4", UserUpdate(password="another-long-password"))
    assert accounts.by_token(first.token) is None
    second = accounts.login("ops4", "another-long-password", "10.0.0.1")
    accounts.update_user("ops4", UserUpdate(disabled=True))
    assert accounts.by_token(second.token) is None
    with pytest.raises(LoginFailed):
        accounts.login("ops4", "another-long-password", "10.0.0.1")


def test_expired_token_is_refused(accounts: AccountService) -> None:
    accounts.create_user(_user("ops5"))
    session = accounts.login("ops5", "a-long-password", "10.0.0.1")
    accounts.store.purge_sessions(session.expires_ts)  # as if its expiry had passed
    assert accounts.by_token(session.token) is None


def test_duplicate_user_name_is_a_conflict(accounts: AccountService) -> None:
    accounts.create_user(_user("dup"))
    with pytest.raises(AccountConflict):
        accounts.create_user(_user("dup"))


def test_failed_logins_lock_one_name_from_one_address(accounts: AccountService) -> None:
    accounts.create_user(_user("ops6"))
    for _ in range(3):
        with pytest.raises(LoginFailed):
            accounts.login("ops6", "wrong-password", "10.0.0.9")
    with pytest.raises(LoginLocked) as locked:
        accounts.login("ops6", "a-long-password", "10.0.0.9")
    assert locked.value.retry_after_s > 0
    assert accounts.login("ops6", "a-long-password", "10.0.0.10").token  # another address is not locked


def test_api_key_is_shown_once_and_kept_hashed(accounts: AccountService) -> None:
    created = accounts.create_key(ApiKeyIn(name="gateway", role=Role.INTEGRATION), "admin")
    keys, total = accounts.store.keys(10, 0)
    assert total == 1 and "key" not in keys[0].model_dump()
    row = accounts.store.key_by_hash(digest(created.key))
    assert row is not None and created.key not in row.key_hash
    principal = accounts.by_key(created.key)
    assert principal is not None and principal.name == f"key:{created.id}"
    assert "ingest:write" in principal.permissions
    accounts.revoke_key(created.id)
    assert accounts.by_key(created.key) is None


def test_audit_log_pages_newest_first(accounts: AccountService) -> None:
    for i in range(5):
        accounts.store.add_audit(
            AuditRow(ts=1000 + i, actor="ops1" if i % 2 else "ops2", role="operator", ip="10.0.0.1",
                     method="POST", path=f"/api/v1/alarms/a{i}/acknowledge", status=200,
                     action="POST /api/v1/alarms/{alarm_id}/acknowledge", detail={"alarm_id": f"a{i}"})
        )  # fmt: skip
    page, total = accounts.store.audit(2, 0)
    assert total == 5 and [e.ts for e in page] == [1004, 1003]
    mine, n = accounts.store.audit(10, 0, actor="ops1")
    assert n == 2 and {e.actor for e in mine} == {"ops1"}
