"""Tables of the actuator side: commands and their lifecycle, overrides, confined-space permits."""

from __future__ import annotations

from store.sql.tables import Base

__all__ = ["Base"]
