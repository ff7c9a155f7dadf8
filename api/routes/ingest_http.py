"""HTTP ingest for devices that cannot speak MQTT: the same contract, pipeline and listeners."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from api.context import ApiContext
from api.schemas import problem_responses
from core.contract import GatewayBatch, Telemetry

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A Telemetry message (with device_id) or a GatewayBatch (with gateway_id), as on MQTT",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class IngestOut(BaseModel):
    """What SafeTwin took from the request."""

    accepted: int = Field(description="Readings accepted")
    refused: list[dict[str, Any]] = Field(description="Parts refused: device, field and reason of each")


def _refusal(detail: str, refused: list[dict[str, Any]]) -> RequestValidationError:
    errors = [
        {"loc": ("body", r.get("field") or "(payload)"), "msg": r["reason"], "type": "value_error"}
        for r in refused
    ]
    return RequestValidationError(errors or [{"loc": ("body",), "msg": detail, "type": "value_error"}])


def ingest_router(ctx: ApiContext) -> APIRouter:
    """POST /ingest/telemetry for one device's reading or a gateway's batch."""
    router = APIRouter(tags=["ingest"])

    @router.post(
        "/ingest/telemetry",
        response_model=IngestOut,
        status_code=202,
        summary="Push telemetry over HTTP: exactly as MQTT would carry it (needs ingest:write)",
        responses=problem_responses(422, 503),
        openapi_extra={**_BODY, "x-contract": [Telemetry.__name__, GatewayBatch.__name__]},
    )
    async def telemetry(
        request: Request,
        device_id: Annotated[
            str | None, Query(max_length=128, description="Device of a Telemetry body")
        ] = None,
        gateway_id: Annotated[
            str | None, Query(max_length=128, description="Gateway of a GatewayBatch body")
        ] = None,
    ) -> IngestOut:
        if ctx.ingest is None:
            raise HTTPException(503, "ingest is not running in this SafeTwin process")
        if (device_id is None) == (gateway_id is None):
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "device_id"),
                        "msg": "give exactly one of device_id or gateway_id",
                        "type": "value_error",
                    }
                ]
            )
        kind, ident = ("telemetry", device_id) if device_id is not None else ("gateway", gateway_id)
        assert ident is not None
        # Called on the event loop, like the MQTT subscriber: the pipeline is not shared between threads.
        result = ctx.ingest(kind, ident, await request.body())
        refused = [
            {"device_id": letter.device_id, "field": letter.field, "reason": letter.reason}
            for _, letter in result.dead_letters
        ]
        if refused and not len(result.readings):
            raise _refusal("nothing was accepted", refused)
        return IngestOut(accepted=len(result.readings), refused=refused)

    return router
