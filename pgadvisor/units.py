"""Parsing of human units on the command line: durations and sizes."""

from __future__ import annotations

import re

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
               "tib": 1 << 40}


def parse_duration(text: str) -> float:
    """'30d', '12h', '90m', '45s', '2w' → seconds; raises ValueError with a readable message."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = (text or "").strip().lower()
    if len(t) >= 2 and t[-1] in units:
        try:
            value = float(t[:-1])
        except ValueError:
            value = -1
        if value > 0:
            return value * units[t[-1]]
    raise ValueError(f"invalid duration {text!r}: use a number and a unit, e.g. 30m, 12h, 7d, 2w")


def parse_size(text: str) -> int:
    """'2GB', '500 MB', '1.5g', '25MiB', '1048576' → bytes (binary units); ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text or "")
    if m and m.group(2).lower() in _SIZE_UNITS:
        value = float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
        if value >= 1:
            return int(value)
    raise ValueError(f"invalid size {text!r}: use a number and a unit, e.g. 500MB, 2GB")


def parse_percent(text: str) -> float:
    """'10%', '10', '2.5 %' → 10.0, 10.0, 2.5; ValueError otherwise (negative included)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text or "")
    if m:
        return float(m.group(1))
    raise ValueError(f"invalid percentage {text!r}: use a number, e.g. 10%")


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
