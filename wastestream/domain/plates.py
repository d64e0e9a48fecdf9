"""Vehicle plates as people and devices write them."""

from __future__ import annotations

import unicodedata


def normalise_plate(plate: str) -> str:
    """Full-width → half-width (NFKC), drop spaces, dots and dashes, upper-case: '沪Ａ·１２３ ４５' → '沪A12345'."""
    s = unicodedata.normalize("NFKC", plate)
    s = "".join(ch for ch in s if not ch.isspace() and ch not in "-·.・_")
    return s.upper()
