"""``sfsync score`` / ``sfsync explain`` on canonical CSV files."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sfsync.cli import main

ACCOUNTS = """account_id,name,owner_id,arr,is_enterprise,contract_start,renewal_date,industry,tenant_id,competitor_evaluation
001A,Acme,005X,2000000,false,2023-01-01,2026-01-01,Technology,T1,false
001B,Beta,005X,500000,false,2024-12-15,2025-05-01,,T2,true
001C,Gamma,005Y,,true,,2025-09-15,Finance,,false
001D,Delta,005Y,100,false,2025-13-01,2026-01-01,,T4,false
001A,Dup,005Y,1,false,2023-01-01,2026-01-01,,T9,false
"""
USAGE = """tenant_id,month,deliveries,login_days,last_login_date,pipeline_conversion_rate,plan_usage_ratio,support_tickets
T1,2025-02,3,6,2025-02-27,0.40,0.5,0
T1,2025-01,3,6,2025-01-27,0.40,0.5,0
T2,2025-02,1,1,2025-01-05,0.10,0.9,4
T2,2025-01,4,3,2025-01-05,0.10,0.9,1
T2,2025-02,9,9,2025-02-01,0.10,0.9,1
T4,2025-02,-1,3,2025-02-01,,,
"""
ACTIVITIES = """account_id,date,type,completed
001A,2025-03-01,meeting,true
001B,2025-01-20,call,true
001C,2025-02-13,QBR,true
"""


@pytest.fixture()
def csv_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, text in (("accounts", ACCOUNTS), ("usage", USAGE), ("activities", ACTIVITIES)):
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_text(text, encoding="utf-8")
    return files


def args(files, *extra):
    return [
        "--accounts", str(files["accounts"]), "--usage", str(files["usage"]),
        "--activities", str(files["activities"]), "--as-of", "2025-03-15", *extra,
    ]  # fmt: skip


def run_main(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_score_writes_the_spec_columns_and_skips_bad_rows(csv_files, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code, _, err = run_main(["score", *args(csv_files, "--out", str(out))], capsys)
    assert code == 0, err
    assert f"{csv_files['accounts']}:5: contract_start is not a date YYYY-MM-DD" in err
    assert f"{csv_files['accounts']}:6: duplicate account_id 001A (first on line 2)" in err
    assert f"{csv_files['usage']}:6: duplicate tenant_id/month T2/2025-02 (first on line 4)" in err
    assert f"{csv_files['usage']}:7: deliveries is not a non-negative number" in err
    assert "Scored 3 account(s) as of 2025-03-15 (scoring month 2025-02" in err
    scores = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(scores.columns[:10]) == [
        "account_id", "health_score", "health_band", "usage_points", "engagement_points",
        "outcome_points", "contract_points", "segment", "lifecycle_phase", "signals",
    ]  # fmt: skip
    rows = scores.set_index("account_id")
    assert rows.loc["001A", "health_score"] == "95"
    assert rows.loc["001A", "signals"] == ""
    b = rows.loc["001B"]  # 15+8 | 10+0 | below 5 | renewal <= 3 months 10 = 48
    assert (b["health_score"], b["health_band"], b["segment"]) == ("48", "orange", "C")
    assert b["lifecycle_phase"] == "renewal"
    assert b["signals"] == "competitor;deliveries_drop;near_plan_limit;no_login_60d;tickets_rising"
    c = rows.loc["001C"]  # unlinked: QBR 30 days ago (10 + 10) + renewal +6 months 7 = 27/40 -> 68
    assert (c["health_score"], c["usage_points"], c["segment"]) == ("68", "", "S")
    assert c["data_quality"] == "no_contract_start;unlinked_tenant"
    assert c["lifecycle_phase"] == ""


def test_missing_required_column_fails_the_whole_file(csv_files, capsys):
    csv_files["usage"].write_text("tenant_id,month,deliveries\nT1,2025-02,3\n", encoding="utf-8")
    code, _, err = run_main(["score", *args(csv_files)], capsys)
    assert code == 1
    assert err.startswith("Error: ")
    assert "lacks required column(s): login_days" in err and str(csv_files["usage"]) in err


def test_strict_mode_fails_on_bad_rows(csv_files, capsys):
    code, _, err = run_main(["score", *args(csv_files, "--strict")], capsys)
    assert code == 1 and "Error: 4 bad input row(s)" in err


def test_unknown_scorecard_is_a_config_error(csv_files, capsys):
    code, _, err = run_main(["score", *args(csv_files, "--scorecard", "nope")], capsys)
    assert code == 1 and "scorecard 'nope' not found" in err


def test_explain_prints_japanese_by_default(csv_files, capsys):
    code, out, err = run_main(["explain", "--account", "001B", *args(csv_files)], capsys)
    assert code == 0, err
    assert "ヘルススコア: 48　バンド: 警戒" in out
    assert "    - 配信数: 1 → 1–2回 = 15 / 25" in out
    assert "    - 最終接触からの日数: 54 → 30–59日 = 10 / 20" in out
    assert "    - 商談化率: 0.1 → 業界平均未満 = 5 / 20" in out
    code, out, err = run_main(["explain", "--account", "001C", *args(csv_files)], capsys)
    assert "    - 配信数: データなし → 対象外" in out
    assert "データ品質: 契約開始日なし、テナントID未連携" in out
    assert "データが欠けている指標: 配信数、ログイン日数、商談化率" in out


def test_language_from_sfsync_yaml(csv_files, tmp_path, capsys):
    config = tmp_path / "sfsync.yaml"
    config.write_text("language: en\n", encoding="utf-8")
    argv = ["--config", str(config), "explain", "--account", "001B", *args(csv_files)]
    code, out, err = run_main(argv, capsys)
    assert code == 0, err
    assert "Health score: 48   band: Alert" in out
    code, out, err = run_main([*argv, "--language", "ja"], capsys)  # the option wins
    assert "ヘルススコア: 48" in out


def test_score_csv_explanation_language(csv_files, tmp_path, capsys):
    out_ja, out_en = tmp_path / "ja.csv", tmp_path / "en.csv"
    assert run_main(["score", *args(csv_files, "--out", str(out_ja))], capsys)[0] == 0
    argv = ["score", *args(csv_files, "--out", str(out_en), "--language", "en")]
    assert run_main(argv, capsys)[0] == 0
    ja = pd.read_csv(out_ja, dtype=str).set_index("account_id")
    en = pd.read_csv(out_en, dtype=str).set_index("account_id")
    assert ja.loc["001B", "explanation"].startswith(
        "スコア 48（警戒）\n次のアクション: 改善プランで今すぐ介入\n利用状況 23/40\n・配信数 1–2回 = 15/25\n"
    )
    assert en.loc["001B", "explanation"].startswith(
        "Score 48 (Alert)\nNext action: intervene now with an improvement plan\nusage 23/40\n"
    )
    pd.testing.assert_frame_equal(ja.drop(columns="explanation"), en.drop(columns="explanation"))


def test_explain_prints_each_measure_in_english(csv_files, capsys):
    argv = ["explain", "--account", "001B", "--language", "en", *args(csv_files)]
    code, out, err = run_main(argv, capsys)
    assert code == 0, err
    assert "Health score: 48   band: Alert" in out
    assert "deliveries: 1  =>  bin 1–2 -> 15 / 25" in out
    assert "days since last touch: 54  =>  bin 30–59 days -> 10 / 20" in out
    assert "pipeline conversion: 0.1  =>  bin below benchmark -> 5 / 20" in out
    argv = ["explain", "--account", "001C", "--language", "en", *args(csv_files)]
    code, out, err = run_main(argv, capsys)
    assert "deliveries: missing  =>  not applicable" in out
    assert "Data quality: no contract start date, no tenant linked" in out
    assert "Missing measures: deliveries, login days, pipeline conversion" in out


def test_explain_unknown_account(csv_files, capsys):
    code, _, err = run_main(["explain", "--account", "nope", *args(csv_files)], capsys)
    assert code == 1 and "account nope is not among the scored accounts" in err


def test_score_to_stdout_through_the_real_entry_point(csv_files):
    proc = subprocess.run(
        [sys.executable, "-m", "sfsync", "score", *args(csv_files)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("account_id,health_score,health_band,")
    # a header and three rows (the explanation is one measure per line, quoted)
    assert len(pd.read_csv(io.StringIO(proc.stdout))) == 3


ENGAGEMENT_USAGE = """tenant_id,month,deliveries,login_days,last_login_date,pipeline_conversion_rate,plan_usage_ratio,support_tickets,email_opens,email_clicks,video_views,document_views,tutorial_completed_at
T1,2024-11,3,6,2024-11-27,0.40,0.5,0,20,4,10,2,2023-02-01
T1,2024-12,3,6,2024-12-27,0.40,0.5,0,20,4,10,2,
T1,2025-01,3,6,2025-01-27,0.40,0.5,0,20,4,10,2,
T1,2025-02,3,6,2025-02-27,0.40,0.5,0,8,4,30,5,
T2,2025-01,4,3,2025-01-05,0.10,0.5,1,2,0,0,0,
T2,2025-02,1,1,2025-02-05,0.10,0.5,1,1,0,0,0,
"""


def test_score_csv_lists_the_engagement_signals(csv_files, tmp_path, capsys):
    """Engagement columns in the usage CSV: the signals column holds the engagement codes,
    alphabetical and ``;``-joined (SPEC §9); a usage CSV without them raises none (above)."""
    csv_files["usage"].write_text(ENGAGEMENT_USAGE, encoding="utf-8")
    out = tmp_path / "scores.csv"
    code, _, err = run_main(["score", *args(csv_files, "--out", str(out))], capsys)
    assert code == 0, err
    rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("account_id")
    # 001A: opens 8 <= half of 20, views 35 >= 1.5 x 12; tutorial done in 2023
    assert rows.loc["001A", "signals"] == "content_interest_rising;email_engagement_falling"
    assert rows.loc["001A", "churn_signals"] == "email_engagement_falling"
    # 001B: contract 2024-12-15 (90 days), no tutorial date, opens too few to count
    assert rows.loc["001B", "signals"] == "competitor;deliveries_drop;tutorial_not_completed"
