"""First start: the bootstrap administrator from a secret, and in development the demo accounts."""

from __future__ import annotations

import logging

from accounts.roles import Role
from accounts.service import AccountService, now_ms
from core.errors import SettingsError
from core.settings import DEV_PASSWORDS, Settings

log = logging.getLogger(__name__)

DEMO_MANAGER_SITE = "gl-lj"  # the facility manager's site in the demo twin


def _demo_accounts(accounts: AccountService) -> None:
    """Development only: one account per everyday role, with passwords everyone can read in the README."""
    site = DEMO_MANAGER_SITE if DEMO_MANAGER_SITE in accounts.twin.sites else next(iter(accounts.twin.sites))
    made = [
        name
        for name, role, sites in (
            ("admin", Role.ADMINISTRATOR, []),
            ("operator", Role.OPERATOR, []),
            ("manager", Role.FACILITY_MANAGER, [site]),
            ("viewer", Role.VIEWER, []),
        )
        if accounts.ensure_user(name, DEV_PASSWORDS[name], role, sites)
    ]
    for name in made:
        log.warning(
            "development account %s created with password %s; never use development mode in production",
            name,
            DEV_PASSWORDS[name],
        )


def start_accounts(accounts: AccountService, settings: Settings) -> None:
    """Open the account store and make sure someone can log in (blocking)."""
    accounts.store.open()
    auth = settings.auth
    if auth.bootstrap_admin_password is not None:
        password = auth.bootstrap_admin_password.get_secret_value()
        if accounts.ensure_user(auth.bootstrap_admin_user, password, Role.ADMINISTRATOR):
            log.info("administrator %s created from auth.bootstrap_admin_password", auth.bootstrap_admin_user)
    if settings.environment == "development" and auth.demo_accounts:
        _demo_accounts(accounts)
    purged = accounts.store.purge_sessions(now_ms())
    if purged:
        log.info("removed %d expired sessions", purged)
    if accounts.store.users(1, 0)[1] == 0:
        raise SettingsError(
            "there is no user account: set SAFETWIN_AUTH__BOOTSTRAP_ADMIN_PASSWORD (or a secret file "
            "auth__bootstrap_admin_password) to create the first administrator"
        )
