"""Devices with their live state, and the history of one device's metric."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from accounts.scope import Scope
from api.auth import scope_of
from api.context import ApiContext
from api.params import HOUR_MS, MAX_POINTS, BucketMs, Limit, Offset, TimeMs, auto_bucket
from api.routes.twin import building_not_found, site_not_found
from api.schemas import DeviceOut, HistoryOut, Page, problem_responses
from core.contract import now_ms
from twin.kinds import DeviceKind
from twin.twin import DevicePlace

log = logging.getLogger(__name__)


def _invalid(field: str, message: str, value: object) -> RequestValidationError:
    """A 422 naming the query parameter, for checks that need the twin."""
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error", "input": value}]
    )


def device_out(ctx: ApiContext, place: DevicePlace) -> DeviceOut:
    """A device's place in the twin joined with its live state."""
    return DeviceOut(
        id=place.device_id,
        kind=place.kind,
        name=place.spec.name,
        site=place.site,
        building=place.building,
        floor_level=place.floor_level,
        space=place.space,
        space_name=ctx.twin.spaces[place.space].name,
        space_kind=place.space_kind,
        metrics=place.metrics,
        live=ctx.live.view(place.device_id),
    )


def _place(ctx: ApiContext, device_id: str, scope: Scope) -> DevicePlace:
    """The device's place; 404 alike for a device not in the twin and one outside the scope."""
    place = ctx.twin.device(device_id)
    if place is None or not scope.sees_place(place.site, place.building):
        raise HTTPException(
            404,
            f"device '{device_id}' is not in the twin; GET /api/v1/devices lists the devices, and "
            "GET /api/v1/unregistered lists devices that send data but are not in the twin",
        )
    return place


def _check_filters(
    ctx: ApiContext, scope: Scope, site: str | None, building: str | None, space: str | None
) -> None:
    if site is not None and (site not in ctx.twin.sites or not scope.sees_site(site)):
        raise site_not_found(site)
    if building is not None and (building not in ctx.twin.buildings or not scope.sees_building(building)):
        raise building_not_found(building)
    if space is not None and (
        space not in ctx.twin.spaces or not scope.sees_place(*ctx.twin.place_of_space[space][:2])
    ):
        raise HTTPException(404, f"space '{space}' is not in the twin; GET /api/v1/twin shows every space")


def _range(start: int | None, end: int | None, bucket: int | None) -> tuple[int, int, int]:
    """(start, end, bucket) with the defaults filled in: the last hour, an 'auto' bucket."""
    end = now_ms() if end is None else end
    start = end - HOUR_MS if start is None else start
    if end <= start:
        raise _invalid("end", f"end must be after start ({start} ms)", end)
    span = end - start
    if bucket is None:
        return start, end, auto_bucket(span)
    if -(-span // bucket) > MAX_POINTS:
        least = -(-span // MAX_POINTS)
        raise _invalid(
            "bucket",
            f"gives more than {MAX_POINTS} points over this range; use 'auto' or at least {least}",
            bucket,
        )
    return start, end, bucket


def devices_router(ctx: ApiContext) -> APIRouter:
    """Routes of devices: /devices, /devices/{id}, /devices/{id}/history."""
    router = APIRouter(tags=["devices"], responses=problem_responses(404, 422))

    @router.get("/devices", response_model=Page[DeviceOut], summary="Devices with their live state")
    async def list_devices(
        request: Request,
        *,
        limit: Limit = 100,
        offset: Offset = 0,
        site: Annotated[str | None, Query(description="Only devices of this site")] = None,
        building: Annotated[str | None, Query(description="Only devices of this building")] = None,
        space: Annotated[str | None, Query(description="Only devices of this space")] = None,
        kind: Annotated[DeviceKind | None, Query(description="Only devices of this kind")] = None,
    ) -> Page[DeviceOut]:
        scope = scope_of(request)
        _check_filters(ctx, scope, site, building, space)
        places = ctx.twin.devices_in(site=site, building=building, space=space)
        if not scope.everything:
            places = [p for p in places if scope.sees_place(p.site, p.building)]
        if kind is not None:
            places = [p for p in places if p.kind == kind]
        items = [device_out(ctx, p) for p in places[offset : offset + limit]]
        return Page[DeviceOut](items=items, total=len(places), limit=limit, offset=offset)

    @router.get("/devices/{device_id}", response_model=DeviceOut, summary="One device with its live state")
    async def get_device(device_id: str, request: Request) -> DeviceOut:
        return device_out(ctx, _place(ctx, device_id, scope_of(request)))

    _add_history_route(router, ctx)
    return router


def _add_history_route(router: APIRouter, ctx: ApiContext) -> None:
    @router.get(
        "/devices/{device_id}/history",
        response_model=HistoryOut,
        summary="History of one metric of a device, in time buckets",
        responses=problem_responses(503),
    )
    async def get_history(
        request: Request,
        device_id: str,
        metric: Annotated[str, Query(description="Metric name, e.g. 'co'")],
        start: TimeMs = None,
        end: TimeMs = None,
        bucket: BucketMs = None,
    ) -> HistoryOut:
        place = _place(ctx, device_id, scope_of(request))
        spec = place.metrics.get(metric)
        if spec is None:
            reports = ", ".join(sorted(place.metrics)) or "no metrics"
            raise _invalid("metric", f"device '{device_id}' ({place.kind.value}) reports {reports}", metric)
        start_ms, end_ms, bucket_ms = _range(start, end, bucket)
        # History backends block (DuckDB, HTTP): keep them off the event loop.
        points = await run_in_threadpool(ctx.history.query, device_id, metric, start_ms, end_ms, bucket_ms)
        return HistoryOut(
            device_id=device_id,
            metric=metric,
            unit=spec.unit,
            start=start_ms,
            end=end_ms,
            bucket_ms=bucket_ms,
            points=points,
        )
