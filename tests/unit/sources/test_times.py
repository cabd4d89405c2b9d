"""Times as people write them in sales files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sources.times import parse_time, strptime_utc


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest.mark.parametrize(("text", "expected"), [
    ("1704067200", "2024-01-01T00:00:00+00:00"),
    (" 1704067200.5 ", "2024-01-01T00:00:00.500000+00:00"),
    ("2024-01-01", "2024-01-01T00:00:00+00:00"),
    ("2024-01-01 10:30", "2024-01-01T10:30:00+00:00"),
    ("2024-01-01T10:30:00Z", "2024-01-01T10:30:00+00:00"),
    ("2024-01-01T10:30:00-05:00", "2024-01-01T15:30:00+00:00"),
    ("2024-03", "2024-03-01T00:00:00+00:00"),
    ("2024 Mar", "2024-03-01T00:00:00+00:00"),
    ("2024 dec", "2024-12-01T00:00:00+00:00"),
    ("2024 Q3", "2024-07-01T00:00:00+00:00"),
    ("2024-Q4", "2024-10-01T00:00:00+00:00"),
    ("2020 W53", "2020-12-28T00:00:00+00:00"),
    ("20240131", "2024-01-31T00:00:00+00:00"),
    ("202402", "2024-02-01T00:00:00+00:00"),
])
def test_the_forms_read(text: str, expected: str) -> None:
    assert _day(parse_time(text)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1704067200000", "milliseconds? divide by 1000"),
    ("-5", "not epoch seconds from 1973 to 2100"),
    ("nan", "not epoch seconds from 1973 to 2100"),
    ("2024", "a date or period written as a number? give its form with --time-format"),
    ("52", "a date or period written as a number?"),
    ("0024-01-01", "before 1970 or after 2099: a mistyped year?"),
    ("2204-01-01", "before 1970 or after 2099: a mistyped year?"),
    ("20241341", "not epoch seconds from 1973"),
    ("2024 Q0", "is not epoch seconds"),
    ("2024-13", "is not epoch seconds"),
    ("2024 W54", "is not epoch seconds"),
    ("2021 W53", "is not epoch seconds"),
    ("2024 Foo", "is not epoch seconds"),
    ("", "is not epoch seconds"),
])
def test_other_text_says_what_is_accepted(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match="'YYYY Qn'|1973|1970") as exc:
        parse_time(text)
    assert expected in str(exc.value)


def test_a_format_reads_the_rest_in_utc_unless_it_has_a_zone() -> None:
    assert _day(strptime_utc("12/1/2009 7:45", "%m/%d/%Y %H:%M")) == "2009-12-01T07:45:00+00:00"
    assert _day(strptime_utc("01.12.2009 +0100", "%d.%m.%Y %z")) == "2009-11-30T23:00:00+00:00"
    with pytest.raises(ValueError, match="does not match --time-format"):
        strptime_utc("2009-12-01", "%d.%m.%Y")
    with pytest.raises(ValueError, match="a mistyped year"):
        strptime_utc("01.12.2209", "%d.%m.%Y")


def test_excel_serial_dates_are_read_with_their_format_and_hinted_without() -> None:
    assert strptime_utc("45292", "excel") == 1704067200.0  # 2024-01-01
    assert strptime_utc("45292.25", "EXCEL") == 1704067200.0 + 6 * 3600
    with pytest.raises(ValueError, match="an Excel serial date\\? give --time-format excel"):
        parse_time("45292")
    with pytest.raises(ValueError, match="not an Excel serial date"):
        strptime_utc("2024-01-01", "excel")
