"""Coordinates are stored WGS-84 (what GPS gives); Chinese base maps (AutoNavi/Gaode, Tencent,
Google China) draw in GCJ-02, so figures meant for a map carry both. The conversion is the
coordTransform package's, outside China it returns WGS-84 unchanged. Its C extension serves only
sequences of points (a scalar pair goes to its pure-Python twin, 2.4 µs against 0.7 µs for a
one-pair sequence, the same floats: checked over 200,000 random points in China), so one pair goes
as a sequence of one — straight to the extension's pairs function when it is there (the public
function's dispatch costs as much again as the conversion: 1.8 µs against 0.4 µs per fix), else
through the public function (the same floats either way: ``tests/unit/domain/test_scorecard_quality.py``)."""

from __future__ import annotations

import coordTransform
import coordTransform.coordTransform as _ct

_PAIRS = getattr(_ct, "_C_FUNCS", {}).get("wgs84_to_gcj02", (None, None))[1] or coordTransform.wgs84_to_gcj02


def gcj02(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) WGS-84 → (lat, lon) GCJ-02."""
    ((lon2, lat2),) = _PAIRS(((lon, lat),))
    return lat2, lon2
