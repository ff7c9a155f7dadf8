"""The twin's structure: the whole spec, sites with counts, one site, one building."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, HTTPException, Request

from accounts.scope import Scope, scoped_site, scoped_spec
from api.auth import scope_of
from api.context import ApiContext
from api.params import Limit, Offset
from api.schemas import BuildingDetail, BuildingSummary, Page, SiteSummary, problem_responses
from twin.model import SiteSpec, TwinSpec


def _counts(ctx: ApiContext, scope: Scope) -> tuple[Counter[str], Counter[str]]:
    """(devices, devices online) per site id and per building id the scope sees, in one pass."""
    total: Counter[str] = Counter()
    online: Counter[str] = Counter()
    states = ctx.live.devices
    for dev_id, place in ctx.twin.devices.items():
        if not scope.sees_place(place.site, place.building):
            continue
        up = states[dev_id].online
        for key in (f"s:{place.site}", f"b:{place.building}"):
            total[key] += 1
            online[key] += up
    return total, online


def _site_summary(site: SiteSpec, total: Counter[str], online: Counter[str]) -> SiteSummary:
    return SiteSummary(
        id=site.id,
        name=site.name,
        kind=site.kind,
        street=site.street,
        location=site.location,
        buildings=[
            BuildingSummary(
                id=b.id,
                name=b.name,
                location=b.location,
                devices=total[f"b:{b.id}"],
                devices_online=online[f"b:{b.id}"],
            )
            for b in site.buildings
        ],
        devices=total[f"s:{site.id}"],
        devices_online=online[f"s:{site.id}"],
    )


def site_not_found(site_id: str) -> HTTPException:
    return HTTPException(404, f"site '{site_id}' is not in the twin; GET /api/v1/sites lists the sites")


def building_not_found(building_id: str) -> HTTPException:
    return HTTPException(
        404,
        f"building '{building_id}' is not in the twin; GET /api/v1/sites lists the buildings of each site",
    )


def twin_router(ctx: ApiContext) -> APIRouter:
    """Routes that describe the twin: /twin, /sites, /sites/{id}, /buildings/{id}."""
    router = APIRouter(tags=["twin"])

    @router.get("/twin", response_model=TwinSpec, summary="The whole twin as loaded")
    async def get_twin(request: Request) -> TwinSpec:
        return scoped_spec(ctx.twin.spec, scope_of(request))

    @router.get(
        "/sites",
        response_model=Page[SiteSummary],
        summary="Sites with their buildings and counts",
        responses=problem_responses(422),
    )
    async def list_sites(request: Request, limit: Limit = 100, offset: Offset = 0) -> Page[SiteSummary]:
        scope = scope_of(request)
        sites = [scoped_site(s, scope) for s in ctx.twin.sites.values() if scope.sees_site(s.id)]
        total, online = _counts(ctx, scope)
        items = [_site_summary(s, total, online) for s in sites[offset : offset + limit]]
        return Page[SiteSummary](items=items, total=len(sites), limit=limit, offset=offset)

    @router.get(
        "/sites/{site_id}",
        response_model=SiteSpec,
        summary="One site as written in the twin",
        responses=problem_responses(404, 422),
    )
    async def get_site(site_id: str, request: Request) -> SiteSpec:
        site = ctx.twin.sites.get(site_id)
        scope = scope_of(request)
        if site is None or not scope.sees_site(site_id):
            raise site_not_found(site_id)
        return scoped_site(site, scope)

    @router.get(
        "/buildings/{building_id}",
        response_model=BuildingDetail,
        summary="One building as written in the twin",
        responses=problem_responses(404, 422),
    )
    async def get_building(building_id: str, request: Request) -> BuildingDetail:
        building = ctx.twin.buildings.get(building_id)
        if building is None or not scope_of(request).sees_building(building_id):
            raise building_not_found(building_id)
        return BuildingDetail(**dict(building), site=ctx.twin.site_of_building[building_id])

    return router
