"""Drone change detection: align two aerial photos of one area (ORB features, RANSAC homography) and
return the regions that changed (new structures on roofs) as polygons on the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vision.detectors.base import Frame, u8
from vision.errors import ImageError
from vision.worker import decode_image

M_PER_DEG = 111_320.0
_MAX_SIDE = 2000


class GeoBounds(BaseModel):
    """Where the first ('before') photo lies on the map, north up: its edges in degrees (WGS 84)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    west: float = Field(ge=-180, le=180, description="Longitude of the left edge, degrees")
    south: float = Field(ge=-90, le=90, description="Latitude of the bottom edge, degrees")
    east: float = Field(ge=-180, le=180, description="Longitude of the right edge, degrees")
    north: float = Field(ge=-90, le=90, description="Latitude of the top edge, degrees")

    @model_validator(mode="after")
    def _ordered(self) -> GeoBounds:
        if self.west >= self.east or self.south >= self.north:
            raise ValueError("bounds need west < east and south < north")
        return self


class ChangedRegion(BaseModel):
    """One region that differs between the photos."""

    polygon: list[tuple[float, float]] = Field(description="Outline as [lon, lat] points (GeoJSON order)")
    pixels: list[tuple[int, int]] = Field(description="The same outline in pixels of the 'before' photo")
    area_m2: float = Field(description="Area on the ground, m² (flat-earth approximation)")
    score: float = Field(ge=0, le=1, description="Mean colour change inside the region, 0..1")


class ChangeResult(BaseModel):
    """What changed between two aerial photos."""

    regions: list[ChangedRegion] = Field(description="Changed regions, largest first")
    matches: int = Field(description="Feature matches used for the alignment")
    inliers: int = Field(description="Matches that agree with the homography")
    changed_fraction: float = Field(description="Share of the overlapping area that changed")


@dataclass(frozen=True, slots=True)
class _Aligned:
    after: Frame
    valid: NDArray[np.uint8]
    matches: int
    inliers: int


def align(before: Frame, after: Frame, *, features: int = 4000) -> _Aligned:
    """Warp `after` onto `before` by a RANSAC homography of ORB matches; raises ImageError if it fails."""
    orb = cv2.ORB.create(nfeatures=features)
    gb, ga = cv2.cvtColor(before, cv2.COLOR_BGR2GRAY), cv2.cvtColor(after, cv2.COLOR_BGR2GRAY)
    kb, db = orb.detectAndCompute(gb, None)
    ka, da = orb.detectAndCompute(ga, None)
    if db is None or da is None or len(kb) < 10 or len(ka) < 10:
        raise ImageError("after", "too few features to align the photos (is one of them blank?)")
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < 12:
        raise ImageError("after", f"only {len(good)} feature matches: the photos do not show the same area")
    src = np.array([ka[m.queryIdx].pt for m in good], dtype=np.float32).reshape(-1, 1, 2)
    dst = np.array([kb[m.trainIdx].pt for m in good], dtype=np.float32).reshape(-1, 1, 2)
    hom, mask = cv2.findHomography(src, dst, cv2.RANSAC, 4.0)
    inliers = int(mask.sum()) if mask is not None else 0
    if hom is None or inliers < 10:
        raise ImageError("after", "the photos could not be aligned (no consistent homography)")
    h, w = before.shape[:2]
    warped = u8(cv2.warpPerspective(after, hom, (w, h)))
    valid = u8(cv2.warpPerspective(np.full(after.shape[:2], 255, np.uint8), hom, (w, h)))
    valid = u8(cv2.erode(valid, np.ones((15, 15), np.uint8)))  # edges of the warp are interpolation
    return _Aligned(warped, valid, len(good), inliers)


def _difference(before: Frame, after: Frame) -> NDArray[np.float32]:
    """Per-pixel colour change 0..1 (Lab distance, lightly blurred so registration noise fades)."""
    lb = cv2.cvtColor(cv2.GaussianBlur(before, (7, 7), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    la = cv2.cvtColor(cv2.GaussianBlur(after, (7, 7), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    lb[:, :, 0] *= 0.5  # brightness differs between flights more than colour does
    la[:, :, 0] *= 0.5
    return np.asarray(np.clip(np.linalg.norm(lb - la, axis=2) / 100.0, 0, 1), dtype=np.float32)


def detect_changes(
    before_bytes: bytes,
    after_bytes: bytes,
    bounds: GeoBounds,
    *,
    threshold: float = 0.18,
    min_area: float = 0.001,
) -> ChangeResult:
    """Regions that changed from the 'before' to the 'after' photo, as map polygons; runs in a worker."""
    before = decode_image(before_bytes, "before", _MAX_SIDE)
    after = decode_image(after_bytes, "after", _MAX_SIDE)
    al = align(before, after)
    diff = _difference(before, al.after)
    diff[al.valid == 0] = 0
    mask = u8((diff >= threshold) * 255)
    mask = u8(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)))
    mask = u8(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((11, 11), np.uint8)))
    h, w = mask.shape
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    m_per_px_x = (
        (bounds.east - bounds.west) * M_PER_DEG * np.cos(np.radians((bounds.north + bounds.south) / 2)) / w
    )
    m_per_px_y = (bounds.north - bounds.south) * M_PER_DEG / h
    regions = []
    for c in sorted(contours, key=cv2.contourArea, reverse=True):
        area = float(cv2.contourArea(c))
        if area < min_area * w * h:
            continue
        poly = cv2.approxPolyDP(c, 0.01 * cv2.arcLength(c, True), True).reshape(-1, 2)
        if len(poly) < 3:
            continue
        fill = np.zeros_like(mask)
        cv2.drawContours(fill, [c], -1, 255, -1)
        regions.append(
            ChangedRegion(
                polygon=[_lonlat(bounds, float(x), float(y), w, h) for x, y in poly],
                pixels=[(int(x), int(y)) for x, y in poly],
                area_m2=round(area * m_per_px_x * m_per_px_y, 1),
                score=round(float(diff[fill > 0].mean()), 3),
            )
        )
    overlap = max(int(np.count_nonzero(al.valid)), 1)
    changed = float(np.count_nonzero(mask)) / overlap
    return ChangeResult(
        regions=regions, matches=al.matches, inliers=al.inliers, changed_fraction=round(changed, 4)
    )


def _lonlat(b: GeoBounds, x: float, y: float, w: int, h: int) -> tuple[float, float]:
    return (round(b.west + x / w * (b.east - b.west), 7), round(b.north - y / h * (b.north - b.south), 7))
