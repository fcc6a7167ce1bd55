"""Durations as people write them.

>>> from jwks_tool.core.timeutil import parse_duration
>>> parse_duration("90d").days
90
>>> parse_duration("1y").days
365
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from jwks_tool.core.text import plural
from jwks_tool.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"\A\s*(\d{1,6})\s*([smhdwy])\s*\Z")


def parse_duration(text: str) -> timedelta:
    """Parse ``0``, ``30s``, ``15m``, ``24h``, ``90d``, ``12w`` or ``1y`` (a year is 365 days)."""
    if text.strip() == "0":
        return timedelta(0)
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise InputError(f"invalid duration {text!r}", hint="write a number and a unit: 30s, 15m, 24h, 90d, 12w, 1y")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """The largest whole unit: ``365d``, ``2h``."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def expiry_phrase(expires: datetime, now: datetime) -> str:
    """When a key expires, said as people say it: ``expires in 3 days``, ``expires in 1 day``, ``expires today``
    (less than a day left), ``expired today``, ``expired 5 days ago``."""
    left = expires - now
    if left > timedelta(0):
        return "expires today" if left.days == 0 else f"expires in {plural(left.days, 'day')}"
    ago = (-left).days
    return "expired today" if ago == 0 else f"expired {plural(ago, 'day')} ago"
