"""Capacity per person (seed 001 §4.1), pure: caps and ramps by username or Id, the personal
load flagged above 1.0, per-owner load lines, reassignment suggestions, the KPI report section."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from sfsync.automation.capacity import owner_capacity
from sfsync.automation.kpi import compute_kpis
from sfsync.automation.kpi_report import render_kpi_report
from sfsync.automation.person_capacity import (
    owner_load_lines,
    person_capacity,
    personal_caps,
    reassignment_suggestions,
    with_person_load,
)
from sfsync.automation.playbook import Playbook, load_playbook
from sfsync.configfile import load_model
from sfsync.errors import ConfigError
from sfsync.templates import load_templates

PLAYBOOK = load_playbook("mappings/playbook.yaml")
JA = load_templates("mappings/templates", "ja")
ITOYA, KASEI, TSUDA, SAKAI, MORI, OTHER = (f"00500000000000{i}AAA" for i in range(1, 7))
USERS = pd.DataFrame(
    {
        "user_id": [ITOYA, KASEI, TSUDA, SAKAI, MORI, OTHER],
        "name": ["糸谷", "嘉生", "津田", "酒井", "盛島", "佐藤"],
        "username": [
            "itoya@nexpro.example.sandbox",
            "kasei@nexpro.example.sandbox",
            "tsuda@nexpro.example.sandbox",
            "SAKAI@nexpro.example.sandbox",
            "morishima@nexpro.example.sandbox",
            "sato@nexpro.example.sandbox",
        ],
        "email": [None] * 6,
    }
)


def book(owner: str, counts: dict[str, int]) -> pd.DataFrame:
    rows = []
    for seg, n in counts.items():
        rows += [
            {
                "account_id": f"{owner}-{seg}-{i}",
                "owner_id": owner,
                "segment": seg,
                "name": f"{seg}{i}",
            }
            for i in range(n)
        ]
    return pd.DataFrame(rows)


def test_the_sample_playbook_has_the_org_chart_caps_and_the_ramp():
    caps = [p.cap for p in PLAYBOOK.capacity.people]
    assert caps == [8, 21, 30, 30, 25, 25, 8, 3]
    (sakai,) = [p for p in PLAYBOOK.capacity.people if p.ramp]
    assert [s.cap for s in sakai.ramp] == [5, 10, 25]
    assert sakai.cap_on(date(2025, 3, 31)) == 5  # before the first step: its cap
    assert sakai.cap_on(date(2025, 4, 30)) == 5
    assert sakai.cap_on(date(2025, 5, 1)) == 10
    assert sakai.cap_on(date(2025, 6, 30)) == 25


def test_people_are_found_by_username_case_insensitively_or_by_id():
    caps = personal_caps(PLAYBOOK, USERS, date(2025, 4, 20))
    assert caps[ITOYA] == 8 and caps[KASEI] == 21 and caps[SAKAI] == 5
    assert OTHER not in caps
    by_id = Playbook.model_validate(
        {**PLAYBOOK.model_dump(), "capacity": {"people": [{"user": OTHER[:15], "cap": 4}]}}
    )
    assert personal_caps(by_id, USERS, date(2025, 4, 20)) == {OTHER: 4}


def test_bad_capacity_settings_are_refused_with_the_file_and_key(tmp_path):
    text = Path("mappings/playbook.yaml").read_text(encoding="utf-8")
    bad = text.replace("{start: 2025-05-01, cap: 10}", "{start: 2025-04-01, cap: 10}")
    path = tmp_path / "playbook.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_model(path, Playbook)
    assert "increasing start dates" in str(err.value)
    path.write_text(text.replace("cap: 3}", "cap: 0}"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_model(path, Playbook)
    assert "capacity.people.7.cap" in str(err.value)


def test_personal_load_is_flagged_above_one():
    accounts = pd.concat(
        [
            book(ITOYA, {"S": 8}),  # 8 / 8: full, not over
            book(SAKAI, {"C": 12}),  # new hire, cap 5 in April: 12 / 5 = 2.4
            book(TSUDA, {"C": 10}),  # 10 / 30 -> weighted 0.333
        ],
        ignore_index=True,
    )
    cap = person_capacity(accounts, PLAYBOOK, as_of=date(2025, 4, 20), users=USERS)
    got = cap.set_index("owner_id")
    assert got.at[ITOYA, "person_load"] == 1.0 and not got.at[ITOYA, "over_load"]
    assert got.at[SAKAI, "person_load"] == 2.4 and got.at[SAKAI, "over_load"]
    assert got.at[SAKAI, "personal_cap"] == 5
    assert got.at[TSUDA, "person_load"] == round(10 / 30, 3)
    assert got.at[KASEI, "accounts_total"] == 0  # listed, no account yet: a row of zeros
    assert list(cap["owner_id"])[0] == SAKAI  # the most loaded first
    lines = owner_load_lines(cap)
    assert lines[0] == {
        "owner_name": "酒井",
        "owner_id": SAKAI,
        "accounts_total": "12",
        "personal_cap": "5",
        "load": "2.40",
        "over": "true",
    }
    # the ramp: a month later the same book is within the cap of 25
    june = person_capacity(accounts, PLAYBOOK, as_of=date(2025, 6, 1), users=USERS)
    assert not june.set_index("owner_id").at[SAKAI, "over_load"]


def test_suggestions_move_accounts_from_the_most_loaded_to_the_least_loaded():
    accounts = pd.concat(
        [book(SAKAI, {"C": 8}), book(TSUDA, {"C": 20}), book(KASEI, {"C": 3})],
        ignore_index=True,
    )
    cap = with_person_load(
        owner_capacity(accounts, PLAYBOOK, users=USERS), PLAYBOOK, USERS, date(2025, 4, 20)
    )
    moves = reassignment_suggestions(accounts, cap, PLAYBOOK, USERS)
    assert len(moves) == 3  # 8 -> 5 accounts: Sakai is at 1.0
    assert {m["from_owner_id"] for m in moves} == {SAKAI}
    # each goes to the least loaded owner at the time (itoya: 0 of 8 ... morishima only takes S)
    assert all(m["to_owner_id"] not in (SAKAI, MORI) for m in moves)
    assert moves[-1]["from_load"] == "1.00"
    assert reassignment_suggestions(accounts, cap, PLAYBOOK, USERS, limit=1) == moves[:1]


def test_segment_skills_limit_who_takes_an_account():
    accounts = pd.concat([book(ITOYA, {"S": 10}), book(MORI, {"S": 1})], ignore_index=True)
    only_mori = Playbook.model_validate(
        {
            **PLAYBOOK.model_dump(),
            "capacity": {
                "people": [
                    {"user": "itoya@nexpro.example.sandbox", "cap": 8},
                    {"user": "morishima@nexpro.example.sandbox", "cap": 8, "segments": ["S"]},
                    {"user": "tsuda@nexpro.example.sandbox", "cap": 30, "segments": ["C"]},
                ]
            },
        }
    )
    cap = person_capacity(accounts, only_mori, as_of=date(2025, 4, 1), users=USERS)
    moves = reassignment_suggestions(accounts, cap, only_mori, USERS)
    assert [(m["from_owner_id"], m["to_owner_id"], m["segment"]) for m in moves] == [
        (ITOYA, MORI, "S"),
        (ITOYA, MORI, "S"),
    ]


def test_nothing_to_suggest_when_nobody_is_over():
    accounts = book(TSUDA, {"C": 5})
    cap = person_capacity(accounts, PLAYBOOK, as_of=date(2025, 4, 1), users=USERS)
    assert reassignment_suggestions(accounts, cap, PLAYBOOK, USERS) == []


def test_the_kpi_report_capacity_section_shows_load_and_suggestions():
    accounts = pd.concat([book(SAKAI, {"C": 8}), book(TSUDA, {"C": 3})], ignore_index=True)
    cap = person_capacity(accounts, PLAYBOOK, as_of=date(2025, 4, 30), users=USERS)
    moves = reassignment_suggestions(accounts, cap, PLAYBOOK, USERS)
    report = compute_kpis("2025-04", playbook=PLAYBOOK, snapshots=pd.DataFrame())
    html = render_kpi_report(
        report,
        templates=JA,
        playbook=PLAYBOOK,
        trend=pd.DataFrame(columns=["month", "key", "value"]),
        bands=pd.DataFrame(),
        capacity=cap,
        suggestions=moves,
        generated_at=datetime(2025, 5, 1, 9, 0),
    )
    assert "個人上限" in html and "負荷" in html
    assert '<td class="num over">1.60</td>' in html  # 8 / 5
    assert "担当替えの提案" in html
    assert "C0（C）: 酒井 → " in html


def test_run_kpi_flags_the_personal_load_and_suggests_moves(capsys):
    from sfsync.automation.kpi_inputs import KpiInputs
    from sfsync.automation.kpi_job import run_kpi
    from sfsync.commands.kpi_output import print_kpi

    accounts = pd.concat([book(SAKAI, {"C": 8}), book(TSUDA, {"C": 3})], ignore_index=True)
    accounts["churned_on"] = pd.NaT
    outcome = run_kpi(
        "2025-04",
        playbook=PLAYBOOK,
        templates=JA,
        inputs=KpiInputs(snapshots=pd.DataFrame(), accounts=accounts, users=USERS),
        generated_at=datetime(2025, 5, 1, 9, 0),
    )
    got = outcome.capacity.set_index("owner_id")
    assert got.at[SAKAI, "personal_cap"] == 5  # the ramp as of 2025-04-30
    assert got.at[SAKAI, "over_load"] and not got.at[SAKAI, "over_cap"]
    assert len(outcome.suggestions) == 3
    print_kpi(outcome)
    assert "担当社数が上限を超えている担当者：酒井" in capsys.readouterr().out


def test_the_run_digest_shows_overloaded_people_and_suggested_moves():
    from sfsync.automation.nightly import run_capacity, run_reassignments
    from sfsync.notify.messages import MessageBuilder

    accounts = pd.concat([book(SAKAI, {"C": 8}), book(TSUDA, {"C": 3})], ignore_index=True)
    cap = run_capacity(PLAYBOOK, accounts, users=USERS, as_of=date(2025, 4, 30))
    moves = run_reassignments(PLAYBOOK, accounts, cap, users=USERS)
    assert moves and all(m["from_owner_id"] == SAKAI for m in moves)
    builder = MessageBuilder(JA, "https://org.example.com")
    overloaded = [line for line in owner_load_lines(cap) if line["over"] == "true"]
    moves = [{**m, "segment": builder.segment_label(m["segment"])} for m in moves]
    _, blocks = builder.digest(
        {"job": "nightly", "as_of": "2025-04-30", "overloaded": overloaded, "reassignments": moves}
    )
    text = "\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")
    assert "負荷が1.0を超える担当者" in text and "酒井：8 社／上限 5 社（負荷 1.60）" in text
    assert "担当替えの提案" in text
    assert "• C0・C（テックタッチ）：酒井 → 糸谷（移管後の負荷 1.40 / 0.12）" in text
    assert "（C）" not in text  # the segment's label, never its letter alone
    # without a date (callers of the old signature) the segment caps alone, no personal load
    assert "person_load" not in run_capacity(PLAYBOOK, accounts, users=USERS).columns
