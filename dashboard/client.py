"""The dashboard's only source of data: SafeTwin's HTTP API, read with httpx.

The dashboard never imports the twin, ingest or store packages, so it can run beside any SafeTwin
API it can reach; the JSON it gets is kept as plain dicts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

Json = dict[str, Any]

PAGE = 1000  # devices per API request (the API's largest page)
MAX_DEVICES = 2000  # the overview lists at most this many; the map view will aggregate instead
OPERATOR_HEADER = "X-SafeTwin-Operator"  # who gives a manual command (until accounts name the user)
# Who the dashboard acts as where the API has no accounts (GET /auth/me answers 404): development.
DEVELOPMENT_USER: dict[str, Any] = {"username": "", "role": "development", "permissions": ["*"]}


@dataclass
class Snapshot:
    """What one refresh of the overview got from the API."""

    status: Json | None = None
    sites: list[Json] = field(default_factory=list)
    devices: list[Json] = field(default_factory=list)
    devices_total: int = 0
    error: str | None = None


class ApiClient:
    """A small synchronous client of /api/v1 (Dash callbacks run in worker threads)."""

    def __init__(
        self, base_url: str, *, timeout_s: float = 3.0, page_size: int = PAGE, auth: httpx.Auth | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        # trust_env=False: no proxy from the environment between the dashboard and its own API.
        # `auth` puts the logged-in user's token on each request (dashboard.login.CookieToken).
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v1", timeout=timeout_s, trust_env=False, auth=auth
        )

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params=params)
        if response.is_error:
            detail = _problem_detail(response)
            raise ApiError(f"GET {path} answered {response.status_code}: {detail}")
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path (under /api/v1); raises ApiError on an error status."""
        return self._get(path, **{k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Json, headers: dict[str, str] | None = None) -> Json:
        """POST JSON to an API path; raises ApiError with the problem's detail on an error status."""
        response = self._http.post(path, json=body, headers=headers)
        if response.is_error:
            raise ApiError(_problem_detail(response), status=response.status_code)
        result: Json = response.json()
        return result

    def status(self) -> Json:
        result: Json = self._get("/status")
        return result

    def twin(self) -> Json:
        """The whole twin as loaded (sites, buildings with footprints, floors, spaces, devices)."""
        result: Json = self._get("/twin")
        return result

    def optional(self, path: str, default: Any, **params: Any) -> Any:
        """GET, or `default` when that part of SafeTwin is not running (503), not there (404), or not
        open to the logged-in user's role (403: a facility manager gets no district-wide KPIs)."""
        try:
            return self.get(path, **params)
        except ApiError as err:
            if " 503:" in str(err) or " 404:" in str(err) or " 403:" in str(err):
                return default
            raise

    def acknowledge(self, alarm_id: str, user: str) -> Json:
        return self.post(f"/alarms/{alarm_id}/acknowledge", {"user": user})

    def assign(self, alarm_id: str, user: str, assignee: str) -> Json:
        return self.post(f"/alarms/{alarm_id}/assign", {"user": user, "assignee": assignee})

    def me(self) -> Json:
        """The signed-in user {username, role, permissions}; all permissions where the API has no accounts."""
        try:
            result: Json = self._get("/auth/me")
        except ApiError as err:
            if " 404:" not in str(err):
                raise
            return dict(DEVELOPMENT_USER)
        return result

    def command(self, device_id: str, body: Json, operator: str = "") -> Json:
        """POST a command {action, params, reason, expires_in_s} to an actuator; the API's command record."""
        # Headers are ASCII: the operator's (often Chinese) name goes percent-encoded.
        headers = {OPERATOR_HEADER: quote(operator)} if operator else None
        return self.post(f"/devices/{device_id}/commands", body, headers)

    def order_step(self, order_id: str, step: str, body: Json) -> Json:
        """POST one step of a work order's flow (sign, assign, handle, verify, close); the order after it."""
        return self.post(f"/work-orders/{order_id}/{step}", body)

    def sites(self) -> list[Json]:
        items: list[Json] = self._get("/sites", limit=1000)["items"]
        return items

    def devices(self, limit: int = MAX_DEVICES) -> tuple[list[Json], int]:
        """Devices in twin order, up to `limit`, and how many there are in all."""
        out: list[Json] = []
        total = 0
        while len(out) < limit:
            page = self._get("/devices", limit=min(self.page_size, limit - len(out)), offset=len(out))
            out.extend(page["items"])
            total = int(page["total"])
            if not page["items"] or len(out) >= total:
                break
        return out, total

    def snapshot(self) -> Snapshot:
        """Status, sites and devices; on failure a Snapshot whose `error` says what to check."""
        try:
            devices, total = self.devices()
            return Snapshot(status=self.status(), sites=self.sites(), devices=devices, devices_total=total)
        except (httpx.HTTPError, ApiError, KeyError, ValueError) as err:
            log.warning("dashboard cannot read the API at %s: %s", self.base_url, err)
            return Snapshot(error=f"cannot read the SafeTwin API at {self.base_url}: {err}")

    def close(self) -> None:
        self._http.close()


class ApiError(Exception):
    """The API answered with an error status (`status`, when known)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]
