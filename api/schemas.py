"""Response models of the HTTP API.

The twin's own spec models (`twin.model`) and live-state models (`twin.state`) are reused as they
are; this module adds the envelopes and the read models that join them.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from store.base import HistoryPoint
from twin.kinds import DeviceKind, MetricSpec, SpaceKind
from twin.model import BuildingSpec, LatLon
from twin.state import DeviceLive

PROBLEM_JSON = "application/problem+json"

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Liveness(_Out):
    status: Literal["ok"] = Field("ok", description="Always 'ok' when the API answers")


class FieldError(_Out):
    """One invalid input of a request."""

    location: str = Field(description="Where the input was: 'query', 'path', 'body' or 'header'")
    field: str = Field(description="Name (dotted path) of the input")
    message: str = Field(description="What is wrong with it")


class Problem(_Out):
    """An error, as RFC 9457 `application/problem+json`."""

    type: str = Field("about:blank", description="URI naming the kind of problem")
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="HTTP status code")
    detail: str = Field(description="What went wrong in this request and what to do about it")
    instance: str = Field(description="Path of the request that failed")
    errors: list[FieldError] | None = Field(None, description="Each invalid input, for 422 responses")


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of the problem+json errors a route may answer with."""
    texts = {
        401: "Not authenticated: no token or API key, or one that expired or was revoked",
        403: "Authenticated, but the role may not do this",
        404: "No such thing (not in the twin, or no alarm / work order with that id)",
        405: "Method not allowed on this path",
        409: "The action is not allowed in the record's current state; the detail says what is",
        422: "Invalid parameter or body field; `errors` names each one",
        429: "Too many failed logins; `Retry-After` says when to try again",
        503: "A store or service this needs is not available; live state still answers",
    }
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {
        code: {"model": Problem, "description": texts[code], "content": {PROBLEM_JSON: ref}} for code in codes
    }


class Page(_Out, Generic[T]):
    """One page of a list: `items` are `total` items from `offset` on."""

    items: list[T] = Field(description="The items of this page")
    total: int = Field(description="Number of items matching the request, over all pages")
    limit: int = Field(description="Most items a page holds")
    offset: int = Field(description="Index of the first item of this page in the whole list")


class BuildingSummary(_Out):
    id: str = Field(description="Building id")
    name: str = Field(description="Label shown to people")
    location: LatLon = Field(description="Centre of the building on the map")
    devices: int = Field(description="Devices in the building")
    devices_online: int = Field(description="Devices of the building online now")


class SiteSummary(_Out):
    """A site with counts, without its floors and spaces."""

    id: str = Field(description="Site id")
    name: str = Field(description="Label shown to people")
    kind: str = Field(description="What the site is, e.g. 'community'")
    street: str | None = Field(description="Street (sub-district) it belongs to")
    location: LatLon = Field(description="Centre of the site on the map")
    buildings: list[BuildingSummary] = Field(description="Buildings of the site, in twin order")
    devices: int = Field(description="Devices of the site, in buildings and outside them")
    devices_online: int = Field(description="Devices of the site online now")


class BuildingDetail(BuildingSpec):
    """A building as written in the twin, with the site it belongs to."""

    site: str = Field(description="Id of the site the building belongs to")


class DeviceOut(_Out):
    """A device: where it sits in the twin, what it reports, and its live state."""

    id: str = Field(description="Device id")
    kind: DeviceKind = Field(description="What the device is")
    name: str | None = Field(description="Label shown to people")
    site: str = Field(description="Site id")
    building: str = Field(description="Building id; empty for spaces outside buildings")
    floor_level: int | None = Field(description="Floor number; null outside buildings")
    space: str = Field(description="Space id")
    space_name: str = Field(description="Label of the space shown to people")
    space_kind: SpaceKind = Field(description="What the space is")
    metrics: dict[str, MetricSpec] = Field(description="Metrics it reports, with unit and valid range")
    live: DeviceLive = Field(description="Live state: last values, online, health, last seen")


class HistoryOut(_Out):
    """History of one metric of one device."""

    device_id: str = Field(description="Device id")
    metric: str = Field(description="Metric name")
    unit: str = Field(description="Unit of the values")
    start: int = Field(description="Start of the range (inclusive), epoch ms")
    end: int = Field(description="End of the range (exclusive), epoch ms")
    bucket_ms: int = Field(description="Width of each point's time bucket, ms")
    points: list[HistoryPoint] = Field(description="Buckets, oldest first; empty buckets are left out")
