"""Calendar settings: bucket widths that are calendar units, the shop's clock and the
bank-holiday calendar.

``SALESCAST_BUCKET_SECONDS`` takes ``hour``, ``day``, ``week``, ``month`` and ``quarter`` beside a
number of seconds
(:func:`bucket_width`); ``SALESCAST_UTC_OFFSET`` is the shop's clock, ``+08:00`` or ``-05:00``
(:func:`parse_offset`, in seconds east of UTC: models.grid lays the buckets in it);
``SALESCAST_HOLIDAYS`` names the calendar of the daily holiday factor (:func:`check_holidays`):
a country code of the ``holidays`` package, optionally with one of its subdivisions, or
``none``.

>>> parse_offset("-05:00"), parse_offset("+05:30"), parse_offset("Z"), parse_offset("+8")
(-18000, 19800, 0, 28800)
>>> parse_offset("-05:10")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: must be a UTC offset such as -05:00 and +05:30, in whole quarter hours from ...

>>> bucket_width(" Month "), bucket_width("week"), bucket_width("86400")
(2629800, 604800, '86400')
>>> check_holidays("us-ca"), check_holidays("de-by"), check_holidays("None")
('US-CA', 'DE-BY', 'none')
>>> check_holidays("XX")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: must be a country code of the holidays package, ...; none turns holidays off
>>> check_holidays("US-ZZ")
Traceback (most recent call last):
...
ValueError: must name a subdivision of US in the holidays package (AK, AL, AR, ...)
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CALENDAR_WIDTHS", "NAMED_WIDTHS", "bucket_width", "calendar_warning", "check_holidays",
           "offset_text", "parse_offset"]

#: bucket widths that mean calendar units of the shop's clock (models.grid's MONTH and
#: QUARTER: config is below models; tests/unit/models/test_grid.py checks that they agree)
CALENDAR_WIDTHS = {"month": 2_629_800, "quarter": 7_889_400}

_EXAMPLES = "(GB-ENG, US, US-CA, DE-BY)"
_OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?")


#: the widths a name gives (``SALESCAST_BUCKET_SECONDS=week``), as ``backtest --bucket`` names them
NAMED_WIDTHS = {"hour": 3600, "day": 86400, "week": 604_800, **CALENDAR_WIDTHS}


def bucket_width(value: Any) -> Any:
    """``hour``, ``day``, ``week``, ``month`` and ``quarter`` (any case, spaces around): their
    widths in seconds; any other value is left to the field's own check."""
    name = value.strip().lower() if isinstance(value, str) else None
    if name is not None and not name.lstrip("+-").isdigit():
        if name not in NAMED_WIDTHS:
            raise ValueError(f"must be a whole number of seconds or one of "
                             f"{', '.join(NAMED_WIDTHS)}")
        return NAMED_WIDTHS[name]
    return value


def parse_offset(value: Any) -> Any:
    """``+HH:MM``, ``-HH:MM``, ``+HH``, ``0``, ``Z`` or ``UTC``: seconds east of UTC, a whole
    number of quarter hours from -12:00 to +14:00 (the clocks that exist); an int as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip().upper()
    if text in ("0", "Z", "UTC", "+00:00", "-00:00"):
        return 0
    match = _OFFSET.fullmatch(text)
    if match is not None:
        sign, hours, minutes = match[1], int(match[2]), int(match[3] or 0)
        seconds = (1 if sign == "+" else -1) * (hours * 3600 + minutes * 60)
        if minutes % 15 == 0 and minutes < 60 and -12 * 3600 <= seconds <= 14 * 3600:
            return seconds
    raise ValueError("must be a UTC offset such as -05:00 and +05:30, in whole quarter hours "
                     "from -12:00 to +14:00 (0 and Z: UTC)")


def offset_text(seconds: int) -> str:
    """``UTC-05:00`` for ``-18000`` seconds east of UTC; ``UTC`` for 0.

    >>> offset_text(-18000), offset_text(19800), offset_text(0)
    ('UTC-05:00', 'UTC+05:30', 'UTC')
    """
    if not seconds:
        return "UTC"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"UTC{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d}"


def calendar_warning(settings: Any) -> str | None:
    """A line for a shop off UTC still on England's bank holidays, the default (the daily
    factor would learn Easter Monday, not its own days); None otherwise.

    >>> from config.settings import load_settings
    >>> calendar_warning(load_settings({"SALESCAST_UTC_OFFSET": "-05:00"}))[:60]
    "the shop's clock is UTC-05:00 but its holidays are England's"
    >>> calendar_warning(load_settings({"SALESCAST_UTC_OFFSET": "-05:00",
    ...                                 "SALESCAST_HOLIDAYS": "US"})) is None
    True
    """
    if (not settings.utc_offset or "holidays" in settings.model_fields_set
            or settings.bucket_seconds != 86_400):
        return None
    return (f"the shop's clock is {offset_text(settings.utc_offset)} but its holidays are "
            f"England's (the default): set SALESCAST_HOLIDAYS to its country's "
            f"({_EXAMPLES[1:-1]}) or none")


def clock_to_follow(own: int, explicit: bool, workers: set[int], who: str,
                    harm: str) -> tuple[int, str | None]:
    """The clock (seconds east of UTC) a reader of the workers' output (``who``: the gateway,
    the trainer) goes by, and a warning (``harm``: what the other clock would do): the live
    ``workers``' clock when they agree and it was given none of its own (a gateway started
    without SALESCAST_UTC_OFFSET told a Tokyo shop's clients UTC, and its days showed a day
    early: a probe); its own when it was given one (``explicit``), with a warning if the
    workers lay their buckets on another.

    >>> clock_to_follow(0, False, {32400}, "x", ""), clock_to_follow(0, False, set(), "x", "")
    ((32400, None), (0, None))
    >>> clock_to_follow(0, True, {32400}, "this gateway", "its days are off")[1]
    "the workers lay their buckets on UTC+09:00 but this gateway's SALESCAST_UTC_OFFSET is UTC: its days are off"
    >>> clock_to_follow(0, False, {0, 32400}, "x", "")[1][:46]
    'the workers lay their buckets on two clocks, U'
    """  # noqa: E501
    if len(workers) > 1:
        return own, (f"the workers lay their buckets on two clocks, "
                     f"{' and '.join(offset_text(w) for w in sorted(workers))}: give them one "
                     f"SALESCAST_UTC_OFFSET")
    if not workers or next(iter(workers)) == own:
        return own, None
    theirs = next(iter(workers))
    if not explicit:
        return theirs, None
    return own, (f"the workers lay their buckets on {offset_text(theirs)} but {who}'s "
                 f"SALESCAST_UTC_OFFSET is {offset_text(own)}: {harm}")


def check_holidays(value: str) -> str:
    """``value`` as :func:`models.calendar.use_holidays` takes it: ``CC`` or ``CC-SUBDIV`` in
    the ``holidays`` package's spelling, or ``none``; a ValueError naming what is wrong."""
    code = value.strip()
    if code.lower() == "none":
        return "none"
    import holidays  # ~60 ms: only when a calendar is named

    supported = holidays.list_supported_countries()
    country, dash, sub = code.partition("-")
    country = country.upper()
    if country not in supported:
        raise ValueError(f"must be a country code of the holidays package, optionally with a "
                         f"subdivision {_EXAMPLES}; none turns holidays off")
    if not dash:
        return country
    subdivisions = {s.upper(): s for s in supported[country]}
    if sub.upper() not in subdivisions:
        some = ", ".join(supported[country][:3])
        raise ValueError(f"must name a subdivision of {country} in the holidays package "
                         f"({some or 'it has none'}{', ...' if some else ''})")
    return f"{country}-{subdivisions[sub.upper()]}"
