"""Offline ``sfsync score`` warns loudly on a broken usage file and ``--strict`` fails, with the
same input checks a scheduled run makes (no history offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.cli import main

ACCOUNTS = """account_id,name,owner_id,arr,is_enterprise,contract_start,renewal_date,industry,tenant_id,competitor_evaluation
001A,Acme,005X,2000000,false,2023-01-01,2026-01-01,Technology,T1,false
001B,Beta,005X,500000,false,2023-12-15,2025-05-01,,T2,false
"""
HEADER = "tenant_id,month,deliveries,login_days,last_login_date\n"
NORMAL = (
    HEADER + "T1,2025-01,3,6,2025-01-27\nT1,2025-02,3,6,2025-02-27\nT2,2025-02,1,1,2025-02-03\n"
)
ACTIVITIES = "account_id,date,type,completed\n001A,2025-03-01,meeting,true\n"


class Result:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output


def _score(capsys, tmp_path: Path, usage: str, *extra: str) -> Result:
    for name, text in (("accounts", ACCOUNTS), ("usage", usage), ("activities", ACTIVITIES)):
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    args = ["score", "--as-of", "2025-03-15", "--out", str(tmp_path / "scores.csv")]
    for name in ("accounts", "usage", "activities"):
        args += [f"--{name}", str(tmp_path / f"{name}.csv")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, *extra])
    captured = capsys.readouterr()
    return Result(exit_info.value.code or 0, captured.out + captured.err)


def test_a_normal_file_scores_without_warning(capsys, tmp_path):
    result = _score(capsys, tmp_path, NORMAL)
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output


def test_a_header_only_usage_file_warns_loudly_and_still_scores(capsys, tmp_path):
    result = _score(capsys, tmp_path, HEADER)
    assert result.exit_code == 0, result.output
    assert "WARNING: input guard scoring_month_missing" in result.output
    assert "a scheduled run would stop here" in result.output
    assert (tmp_path / "scores.csv").exists()


def test_strict_fails_on_the_same_finding_and_writes_no_scores(capsys, tmp_path):
    result = _score(capsys, tmp_path, HEADER, "--strict")
    assert result.exit_code == 1, result.output
    assert "the input guard found 1 problem(s)" in result.output
    assert not (tmp_path / "scores.csv").exists()


def test_empty_counts_in_the_scoring_month_are_named(capsys, tmp_path):
    usage = HEADER + "T1,2025-01,3,6,2025-01-27\nT1,2025-02,,,2025-02-27\nT2,2025-02,,,2025-02-03\n"
    result = _score(capsys, tmp_path, usage, "--strict")
    assert result.exit_code == 1
    assert "deliveries is empty in every row of 2025-02" in result.output
