"""What the signed-in user may do (GET /auth/me): the dashboard draws only the controls it allows.

The API decides; hiding a control only spares a person a refusal.  Where the API has no accounts
(development), the client reports every permission.
"""

from __future__ import annotations

import logging

import httpx

from dashboard.client import ApiClient, ApiError

log = logging.getLogger(__name__)

ACTUATORS = "actuators:command"  # device controls in the drill-down and floor view
ALARMS = "alarms:act"  # acknowledge and assign in the alarm list
ORDERS = "workorders:act"  # the steps of a work order on the board
EVERYTHING = "*"

Permissions = frozenset[str]


def permissions(client: ApiClient) -> Permissions:
    """The user's permissions; none when they cannot be read (no control is drawn then)."""
    try:
        me = client.me()
    except (ApiError, httpx.HTTPError) as err:
        log.warning("cannot read the user's permissions: %s", err)
        return frozenset()
    return frozenset(str(p) for p in me.get("permissions") or [])


def allowed(perms: Permissions, permission: str) -> bool:
    """Whether `permission` is among `perms` (or they hold every permission)."""
    return EVERYTHING in perms or permission in perms
