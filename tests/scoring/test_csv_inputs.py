"""Canonical CSV readers: each bad cell is reported with file and line, and its row skipped."""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.errors import InputDataError
from sfsync.scoring.csv_inputs import (
    read_accounts,
    read_activities,
    read_benchmarks,
    read_previous,
    read_usage,
)

USAGE_HEADER = "tenant_id,month,deliveries,login_days,last_login_date,pipeline_conversion_rate,plan_usage_ratio,support_tickets"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("T1,2025-2,1,1,2025-02-01,0.1,0.1,0", "month is not a month YYYY-MM ('2025-2')"),
        ("T1,2025-13,1,1,2025-02-01,0.1,0.1,0", "month is not a month YYYY-MM ('2025-13')"),
        ("T1,2025-02,-1,1,2025-02-01,0.1,0.1,0", "deliveries is not a non-negative number ('-1')"),
        ("T1,2025-02,x,1,2025-02-01,0.1,0.1,0", "deliveries is not a non-negative number ('x')"),
        (
            "T1,2025-02,1,1,02/01/2025,0.1,0.1,0",
            "last_login_date is not a date YYYY-MM-DD ('02/01/2025')",
        ),
        (
            "T1,2025-02,1,1,2025-02-30,0.1,0.1,0",
            "last_login_date is not a date YYYY-MM-DD ('2025-02-30')",
        ),
        (
            "T1,2025-02,1,1,2025-02-01,1.5,0.1,0",
            "pipeline_conversion_rate is not within 0..1 ('1.5')",
        ),
        (
            "T1,2025-02,1,1,2025-02-01,0.1,-0.1,0",
            "plan_usage_ratio is not a non-negative number ('-0.1')",
        ),
        (",2025-02,1,1,2025-02-01,0.1,0.1,0", "tenant_id is empty ('')"),
    ],
)
def test_bad_usage_cells(tmp_path, row, message):
    path = tmp_path / "usage.csv"
    path.write_text(f"{USAGE_HEADER}\nT0,2025-02,1,1,,,,\n{row}\n", encoding="utf-8")
    table = read_usage(path)
    assert [str(p) for p in table.problems] == [f"{path}:3: {message}"]
    assert table.frame["tenant_id"].tolist() == ["T0"]
    assert table.frame["deliveries"].tolist() == [1.0]


def test_empty_cells_are_missing_and_types_are_canonical(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(
        "account_id,tenant_id,arr,contract_start,renewal_date,is_enterprise,extra\n"
        "001A, T1 ,,2024-01-31,,TRUE,kept\n",
        encoding="utf-8",
    )
    frame = read_accounts(path).frame
    row = frame.iloc[0]
    assert row["tenant_id"] == "T1"
    assert str(frame["contract_start"].dtype).startswith("datetime64")
    assert frame["arr"].isna().all() and frame["renewal_date"].isna().all()
    assert bool(row["is_enterprise"]) is True
    assert frame["competitor_evaluation"].isna().all()  # optional column added as missing
    assert row["extra"] == "kept"


def test_bad_boolean_in_activities(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "account_id,date,type,completed\n001A,2025-03-01,Meeting,yes\n001A,2025-03-01,QBR,true\n",
        encoding="utf-8",
    )
    table = read_activities(path)
    assert [str(p) for p in table.problems] == [f"{path}:2: completed is not true/false ('yes')"]
    assert table.frame["type"].tolist() == ["qbr"]


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(InputDataError, match="file not found"):
        read_usage(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputDataError, match="empty.csv: the file is empty"):
        read_usage(empty)
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("tenant_id,month\nT1,2025-02\n株式会社,2025-02\n".encode("cp932"))
    with pytest.raises(InputDataError, match=r"sjis.csv:3: not UTF-8 text \(byte 0x8a\)"):
        read_usage(sjis)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(
        b"\xef\xbb\xbfaccount_id,tenant_id,arr,contract_start,renewal_date\n001A,T1,1,,\n"
    )
    assert read_accounts(bom).frame["account_id"].tolist() == ["001A"]


def test_header_only_accounts_file_is_an_error(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("account_id,tenant_id,arr,contract_start,renewal_date\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="header but no account rows"):
        read_accounts(path)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("1e308,1,0.1,0.1,0", "deliveries is outside the plausible range 0–100,000 ('1e308')"),
        ("inf,1,0.1,0.1,0", "deliveries is not a finite number ('inf')"),
        ("-Infinity,1,0.1,0.1,0", "deliveries is not a finite number ('-Infinity')"),
        ("NaN,1,0.1,0.1,0", "deliveries is not a finite number ('NaN')"),
        ("1e999,1,0.1,0.1,0", "deliveries is not a finite number ('1e999')"),
        ("1,32,0.1,0.1,0", "login_days is outside the plausible range 0–31 ('32')"),
        ("1,1,nan,0.1,0", "pipeline_conversion_rate is not a finite number ('nan')"),
        ("1,1,0.1,10.5,0", "plan_usage_ratio is outside the plausible range 0–10 ('10.5')"),
        ("1,1,0.1,0.1,-3", "support_tickets is not a non-negative number ('-3')"),
    ],
)
def test_non_finite_and_absurd_numbers_are_bad_rows(tmp_path, cells, message):
    path = tmp_path / "usage.csv"
    header = "tenant_id,month,deliveries,login_days,pipeline_conversion_rate,plan_usage_ratio,support_tickets"
    path.write_text(f"{header}\nT0,2025-02,1,1,0.1,0.1,0\nT1,2025-02,{cells}\n", encoding="utf-8")
    table = read_usage(path)
    assert [str(p) for p in table.problems] == [f"{path}:3: {message}"]
    assert table.frame["tenant_id"].tolist() == ["T0"]


def test_ratios_accept_a_rounding_tolerance_and_the_plausible_maximum(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text(
        "tenant_id,month,deliveries,login_days,plan_usage_ratio\n"
        "T0,2025-02,100000,31,1.004\nT1,2025-02,0,0,0\n",
        encoding="utf-8",
    )
    table = read_usage(path)
    assert table.problems == []
    assert table.frame["plan_usage_ratio"].tolist() == [1.004, 0.0]


def test_benchmark_file(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("industry,rate\ndefault,0.2\nRetail,1.2\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"b.csv:3: rate must be a number within 0..1"):
        read_benchmarks(path)


def test_previous_scores_file(tmp_path):
    path = tmp_path / "prev.csv"
    path.write_text("account_id,health_score,health_band\n001A,55,yellow\n001B,,\n", "utf-8")
    frame = read_previous(path)
    assert frame["account_id"].tolist() == ["001A", "001B"]
    assert frame["health_score"].iloc[0] == 55 and pd.isna(frame["health_score"].iloc[1])
    path.write_text("account_id,health_score\n001A,55\n001B,inf\n", "utf-8")
    with pytest.raises(InputDataError, match=r"prev.csv:3: health_score 'inf' is not a score"):
        read_previous(path)
    path.write_text("account_id,score\n001A,55\n", "utf-8")
    with pytest.raises(InputDataError, match="lacks the column.s. health_score"):
        read_previous(path)
