"""First start: demo accounts in development only, the bootstrap administrator from a secret, and
production refusing development passwords."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from accounts.bootstrap import start_accounts
from accounts.service import AccountService
from accounts.store import AccountStore
from core.errors import SettingsError
from core.settings import DEV_PASSWORDS, AuthSettings, load_settings
from twin.twin import Twin


def _service(tmp_path: Path, twin: Twin) -> AccountService:
    return AccountService(AccountStore(f"sqlite:///{tmp_path}/a.db"), twin, AuthSettings())


def test_development_creates_the_demo_accounts_once_and_says_their_passwords(
    tmp_path: Path, twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = _service(tmp_path, twin)
    with caplog.at_level(logging.WARNING, logger="accounts.bootstrap"):
        start_accounts(accounts, load_settings())
    assert sum(DEV_PASSWORDS["admin"] in r.getMessage() for r in caplog.records) == 1
    manager = accounts.login("manager", DEV_PASSWORDS["manager"], "ip").principal
    assert manager.role.value == "facility_manager" and not manager.scope.everything
    caplog.clear()
    accounts.store.close()
    start_accounts(accounts, load_settings())  # the next start finds them: nothing printed again
    assert not [r for r in caplog.records if "password" in r.getMessage()]
    accounts.store.close()


def test_production_without_a_user_or_bootstrap_password_refuses_to_start(tmp_path: Path, twin: Twin) -> None:
    settings = load_settings(
        environment="production", api={"secret_key": "s" * 32}, mqtt={"url": "mqtt://broker:1883",
        "username": "safetwin", "password": "a-real-broker-password"},
    )  # fmt: skip
    accounts = _service(tmp_path, twin)
    with pytest.raises(SettingsError, match="BOOTSTRAP_ADMIN_PASSWORD"):
        start_accounts(accounts, settings)
    assert accounts.store.users(10, 0)[1] == 0  # no demo account in production
    accounts.store.close()


def test_bootstrap_administrator_from_the_secret(tmp_path: Path, twin: Twin) -> None:
    settings = load_settings(
        auth={"bootstrap_admin_password": "a-strong-first-password", "demo_accounts": False}
    )
    accounts = _service(tmp_path, twin)
    start_accounts(accounts, settings)
    assert accounts.login("admin", "a-strong-first-password", "ip").principal.role.value == "administrator"
    assert accounts.store.users(10, 0)[1] == 1
    accounts.store.close()


@pytest.mark.parametrize("password", [DEV_PASSWORDS["admin"], "short"])
def test_production_refuses_a_development_or_weak_bootstrap_password(password: str) -> None:
    with pytest.raises(SettingsError, match="bootstrap_admin_password"):
        load_settings(
            environment="production",
            api={"secret_key": "s" * 32},
            auth={"bootstrap_admin_password": password},
            mqtt={"url": "mqtt://broker:1883", "username": "safetwin", "password": "a-real-broker-password"},
        )
