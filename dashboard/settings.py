"""The dashboard's settings section (`dashboard.*`, environment `SAFETWIN_DASHBOARD__<FIELD>`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DashboardSettings(BaseModel):
    """What the dashboard draws beyond the API's data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tile_url: str | None = Field(
        None,
        max_length=2000,
        description="Raster tiles under the map, e.g. 'http://tiles.local/{z}/{x}/{y}.png' (a server the "
        "operators' browsers reach); unset: no base map and no request outside SafeTwin",
    )

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://", "/")):
            raise ValueError("tile_url must be an http(s) URL or a path on the SafeTwin server")
        missing = [p for p in ("{z}", "{x}", "{y}") if p not in value]
        if missing:
            raise ValueError(f"tile_url must contain {{z}}, {{x}} and {{y}}; it lacks {', '.join(missing)}")
        return value
