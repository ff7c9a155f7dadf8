"""Video analytics: cameras and their events, snapshots, site rosters, AI snap, drone change detection."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import scope_of
from api.context import ApiContext
from api.params import Limit, Offset
from api.routes.twin import site_not_found
from api.schemas import PROBLEM_JSON, Page, Problem, problem_responses
from core.contract import Detection
from vision.change import ChangeResult, GeoBounds
from vision.errors import ImageError, VisionUnavailable
from vision.roster import Worker, WorkerIn
from vision.service import VisionService
from vision.snap import SnapReport, image_path

_SNAPSHOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.jpg$")
_OWN = {
    413: "The upload is larger than vision.max_upload_bytes",
    503: "Video analytics are not running (vision disabled or not started)",
}


def _problems(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries of the problem+json answers of these routes."""
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    out: dict[int | str, dict[str, object]] = dict(problem_responses(*(c for c in codes if c not in _OWN)))
    for code in codes:
        if code in _OWN:
            out[code] = {"model": Problem, "description": _OWN[code], "content": {PROBLEM_JSON: ref}}
    return out


class CameraOut(BaseModel):
    """An analysed camera and how its source and analytics are doing."""

    id: str = Field(description="Camera device id")
    site: str = Field(description="Site of the camera")
    source: str = Field(description="Stream URL (password hidden), file or folder")
    connected: bool = Field(description="The source is open")
    frames: int = Field(description="Frames read since start")
    dropped: int = Field(description="Frames dropped because analysis was busy (drop-oldest)")
    analysed: int = Field(description="Frames analysed since start")
    reconnects: int = Field(description="Times the source was reopened")
    people: int = Field(description="People in view in the last analysed frame")
    events: int = Field(description="Events started since start")
    detector_ms: float = Field(description="Detector time of the last frame, ms")
    last_error: str | None = Field(description="Why the source is not open, if it is not")


class CameraEvent(BaseModel):
    """A detection event the vision service published, with its camera."""

    camera_id: str = Field(description="Camera the event is about")
    detection: Detection


def _service(ctx: ApiContext) -> VisionService:
    if ctx.vision is None:
        raise HTTPException(503, "video analytics are not running in this SafeTwin; set vision.enabled")
    return ctx.vision


def _image_error(err: ImageError) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", err.field), "msg": str(err), "type": "value_error"}])


async def _read(upload: UploadFile, svc: VisionService, field: str) -> bytes:
    limit = svc.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(
            413, f"{field} is larger than {limit} bytes (vision.max_upload_bytes); send a smaller photo"
        )
    if not data:
        raise _image_error(ImageError(field, "is empty"))
    return data


def vision_router(ctx: ApiContext) -> APIRouter:
    """Routes of video analytics."""
    router = APIRouter(tags=["vision"], responses=_problems(503))
    _camera_routes(router, ctx)
    _roster_routes(router, ctx)
    _upload_routes(router, ctx)
    return router


def _sees_camera(ctx: ApiContext, request: Request, camera_id: str) -> bool:
    """Whether the caller's scope holds the camera's place."""
    place = ctx.twin.device(camera_id)
    scope = scope_of(request)
    return scope.everything or (place is not None and scope.sees_place(place.site, place.building))


def _visible_events(ctx: ApiContext, request: Request) -> list[CameraEvent]:
    return [
        CameraEvent(camera_id=c, detection=d)
        for c, d in list(_service(ctx).recent)
        if _sees_camera(ctx, request, c)
    ]


def _camera_routes(router: APIRouter, ctx: ApiContext) -> None:
    @router.get("/vision/cameras", response_model=list[CameraOut], summary="Cameras analysed by SafeTwin")
    async def cameras(request: Request) -> list[CameraOut]:
        svc = _service(ctx)
        out = []
        for cam in svc.cameras.values():
            if not _sees_camera(ctx, request, cam.camera_id):
                continue
            st = cam.source_status
            out.append(
                CameraOut(
                    id=cam.camera_id,
                    site=cam.place.site,
                    source=cam.describe_source(),
                    connected=st.connected,
                    frames=st.frames,
                    dropped=st.dropped,
                    analysed=cam.stats.analysed,
                    reconnects=st.reconnects,
                    people=cam.stats.people,
                    events=cam.stats.events,
                    detector_ms=round(cam.stats.last_ms, 1),
                    last_error=st.last_error,
                )
            )
        return out

    @router.get(
        "/vision/events",
        response_model=Page[CameraEvent],
        summary="Detection messages SafeTwin's analytics published, newest first",
        responses=_problems(422),
    )
    async def events(
        request: Request, limit: Limit = 100, offset: Offset = 0, camera: str | None = None
    ) -> Page[CameraEvent]:
        items = [e for e in _visible_events(ctx, request) if camera in (None, e.camera_id)]
        return Page[CameraEvent](
            items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
        )

    @router.get(
        "/snapshots/{name}",
        response_class=FileResponse,
        summary="An event's snapshot (JPEG with the boxes drawn)",
        responses={200: {"content": {"image/jpeg": {}}}, **_problems(404)},
    )
    async def snapshot(name: str, request: Request) -> FileResponse:
        path = _service(ctx).settings.snapshot_dir / name
        if not _SNAPSHOT.match(name) or not path.is_file() or not _sees_snapshot(ctx, request, name):
            raise HTTPException(
                404, f"no snapshot '{name}'; snapshot links come in detection events' snapshot_url"
            )
        return FileResponse(path, media_type="image/jpeg")


def _sees_snapshot(ctx: ApiContext, request: Request, name: str) -> bool:
    """A scoped caller sees a snapshot only through a recent event of a camera in scope."""
    if scope_of(request).everything:
        return True
    return any((e.detection.snapshot_url or "").endswith("/" + name) for e in _visible_events(ctx, request))


def _roster_routes(router: APIRouter, ctx: ApiContext) -> None:
    def site(site_id: str, request: Request) -> str:
        # A roster is the site's: it needs the whole site in scope, not one of its buildings.
        if site_id not in ctx.twin.sites or not scope_of(request).sees_place(site_id):
            raise site_not_found(site_id)
        return site_id

    @router.get(
        "/sites/{site_id}/roster",
        response_model=list[Worker],
        summary="Registered workers of a site and who is checked in",
        responses=_problems(404),
    )
    async def roster(site_id: str, request: Request) -> list[Worker]:
        return _service(ctx).roster.workers(site(site_id, request))

    @router.post(
        "/sites/{site_id}/roster",
        response_model=Worker,
        status_code=201,
        summary="Register a worker at a site (real-name registration)",
        responses=_problems(404, 422),
    )
    async def register(site_id: str, worker: WorkerIn, request: Request) -> Worker:
        svc = _service(ctx)
        return await run_in_threadpool(svc.roster.register, site(site_id, request), worker)

    @router.delete(
        "/sites/{site_id}/roster/{person_id}",
        status_code=204,
        summary="Take a worker off a site's roster",
        responses=_problems(404),
    )
    async def unregister(site_id: str, person_id: str, request: Request) -> None:
        svc = _service(ctx)
        if not await run_in_threadpool(svc.roster.remove, site(site_id, request), person_id):
            raise HTTPException(404, f"'{person_id}' is not on the roster of site '{site_id}'")


def _check_snap_site(ctx: ApiContext, request: Request, site_id: str | None) -> None:
    """A photo's site must be in the twin and in scope; a scoped account must name one."""
    scope = scope_of(request)
    if site_id is not None and (site_id not in ctx.twin.sites or not scope.sees_site(site_id)):
        raise site_not_found(site_id)
    if site_id is None and not scope.everything:
        raise RequestValidationError(
            [{"loc": ("body", "site_id"), "msg": "name the site the photo was taken at", "type": "missing"}]
        )


def _sees_report(request: Request, report: SnapReport) -> bool:
    scope = scope_of(request)
    return scope.everything or (report.site_id is not None and scope.sees_site(report.site_id))


def _upload_routes(router: APIRouter, ctx: ApiContext) -> None:
    @router.post(
        "/vision/snap",
        response_model=SnapReport,
        status_code=201,
        summary="AI snap: upload a photo, get the hazards the configured detectors see (stored as a report)",
        responses=_problems(413, 422),
    )
    async def snap(
        request: Request,
        file: Annotated[UploadFile, File(description="The photo, JPEG or PNG")],
        site_id: Annotated[str | None, Form(description="Site the photo was taken at")] = None,
        note: Annotated[str | None, Form(max_length=2000, description="What the reporter saw")] = None,
    ) -> SnapReport:
        svc = _service(ctx)
        _check_snap_site(ctx, request, site_id)
        data = await _read(file, svc, "file")
        try:
            return await svc.snap(data, file.filename, site_id, note)
        except ImageError as err:
            raise _image_error(err) from err
        except VisionUnavailable as err:
            raise HTTPException(503, str(err)) from err

    @router.get(
        "/vision/snap/{report_id}",
        response_model=SnapReport,
        summary="A stored AI-snap report",
        responses=_problems(404),
    )
    async def snap_report(report_id: str, request: Request) -> SnapReport:
        report = await run_in_threadpool(_service(ctx).snap_report, report_id)
        if report is None or not _sees_report(request, report):
            raise HTTPException(404, f"no AI-snap report '{report_id}'; POST /api/v1/vision/snap makes one")
        return report

    @router.get(
        "/vision/snap/{report_id}/image",
        response_class=FileResponse,
        summary="The photo of an AI-snap report with the findings drawn",
        responses={200: {"content": {"image/jpeg": {}}}, **_problems(404)},
    )
    async def snap_image(report_id: str, request: Request) -> FileResponse:
        svc = _service(ctx)
        report = await run_in_threadpool(svc.snap_report, report_id)
        if report is None or not _sees_report(request, report):
            raise HTTPException(404, f"no AI-snap report '{report_id}'")
        return FileResponse(image_path(svc.settings.report_dir, report_id), media_type="image/jpeg")

    @router.post(
        "/vision/change",
        response_model=ChangeResult,
        summary="Drone change detection: regions that changed between two aerial photos, as map polygons",
        responses=_problems(413, 422),
    )
    async def change(
        request: Request,
        before: Annotated[UploadFile, File(description="Earlier photo; the bounds are its edges")],
        after: Annotated[UploadFile, File(description="Later photo of the same area")],
        west: Annotated[float, Form(description="Longitude of the before photo's left edge")],
        south: Annotated[float, Form(description="Latitude of its bottom edge")],
        east: Annotated[float, Form(description="Longitude of its right edge")],
        north: Annotated[float, Form(description="Latitude of its top edge")],
    ) -> ChangeResult:
        if not scope_of(request).everything:
            raise HTTPException(
                403, "drone change detection covers the whole district; a scoped account may not run it"
            )
        svc = _service(ctx)
        try:
            bounds = GeoBounds(west=west, south=south, east=east, north=north)
        except ValidationError as err:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"]) if e["loc"] else ("body", "bounds")} for e in err.errors()]
            ) from err
        data_before, data_after = await _read(before, svc, "before"), await _read(after, svc, "after")
        try:
            return await svc.change(data_before, data_after, bounds)
        except ImageError as err:
            raise _image_error(err) from err
        except VisionUnavailable as err:
            raise HTTPException(503, str(err)) from err
