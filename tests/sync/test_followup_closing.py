"""Follow-up Tasks whose reason went away (SPEC §10), pure: QBR held, onboarding done, renewal
passed -> the open, unedited sfsync Task is closed with the reason and the auto-closed marker
(never a touch); a Task the CSM completed or edited, or one this run still wants, is left."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sfsync.automation.closures import closable_followups, onboarding_done_keys, qbr_held_keys
from sfsync.automation.followups import build_followups
from sfsync.automation.playbook import load_playbook
from sfsync.plan import is_auto_closed
from sfsync.salesforce.closing import closed_description, followup_closes, key_reason
from sfsync.templates import load_templates

JA = load_templates("mappings/templates", "ja")
EN = load_templates("mappings/templates", "en")
PLAYBOOK = load_playbook("mappings/playbook.yaml")
SFSYNC, CSM = "005000000000001AAA", "005000000000002AAA"
A1, A2 = "001000000000001AAA", "001000000000002AAA"
AS_OF = date(2025, 3, 18)


def accounts(**extra) -> pd.DataFrame:
    base = {
        "account_id": [A1, A2],
        "name": ["A社", "B社"],
        "owner_id": [CSM, CSM],
        "tenant_id": ["t1", "t2"],
        "contract_start": pd.to_datetime(["2025-02-01", "2024-06-01"]),
        "renewal_date": pd.to_datetime(["2026-02-01", "2025-06-01"]),
        "segment": ["S", "S"],
    }
    base.update(extra)
    return pd.DataFrame(base)


def activities(*rows: tuple[str, str, str, bool]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"account_id": a, "date": pd.Timestamp(d), "type": t, "completed": c}
            for a, d, t, c in rows
        ]
    )


def usage(*rows: tuple[str, str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"tenant_id": t, "month": m, "deliveries": n} for t, m, n in rows])


def open_task(key: str, *, editor: str = SFSYNC, **extra) -> dict:
    return {
        "Id": "00T" + key[-4:],
        "Sync_Key__c": key,
        "IsClosed": False,
        "Status": "Not Started",
        "Description": "QBRを実施してください",
        "CreatedById": SFSYNC,
        "LastModifiedById": editor,
        "IsDeleted": False,
        **extra,
    }


def closes(tasks, closable, desired=(), scope=(A1, A2), as_of=AS_OF, templates=JA):
    return followup_closes(
        pd.DataFrame(tasks),
        closable=closable,
        desired_keys=desired,
        scope_accounts=scope,
        as_of=as_of,
        templates=templates,
        integration_user_id=SFSYNC,
    )


def test_a_meeting_or_qbr_held_this_quarter_names_the_qbr_key():
    held = activities(
        (A1, "2025-03-14", "Meeting", True),
        (A2, "2024-12-20", "QBR", True),  # last quarter
        (A2, "2025-03-15", "QBR", False),  # planned, not held
    )
    assert qbr_held_keys(accounts(), held, AS_OF, PLAYBOOK) == {f"qbr:{A1}:2025Q1": "qbr_held"}
    # and the QBR rule no longer asks for that Task (the two agree)
    wanted = build_followups(
        accounts(), as_of=AS_OF, playbook=PLAYBOOK, templates=JA, activities=held
    )
    qbr_keys = set(wanted.loc[wanted["rule"] == "qbr", "sync_key"])
    assert qbr_keys == {f"qbr:{A2}:2025Q1"}


def test_onboarding_steps_before_the_first_delivery_are_done_once_it_happened():
    keys = onboarding_done_keys(accounts(), usage(("t1", "2025-03", 2)), AS_OF, PLAYBOOK)
    assert keys == {
        f"onboarding_video:{A1}:2025-02-01": "onboarding_done",
        f"onboarding_pre_delivery:{A1}:2025-02-01": "onboarding_done",
        # A2's onboarding period is over: every step
        **{
            f"onboarding_{s}:{A2}:2024-06-01": "onboarding_done"
            for s in ("setup", "kickoff", "video", "pre_delivery", "review", "complete")
        },
    }
    no_delivery = onboarding_done_keys(accounts(), usage(("t1", "2025-03", 0)), AS_OF, PLAYBOOK)
    assert not any(A1 in k for k in no_delivery)
    # looked up key by key (the plan's use), without a stored key per step
    assert keys.get(f"onboarding_setup:{A1}:2025-02-01") is None  # before the delivery: open
    assert keys.get(f"onboarding_video:{A1}:2025-01-01") is None  # another contract start
    assert keys.get(f"onboarding_review:{A2}:2024-06-01") == "onboarding_done"
    for other in (f"qbr:{A2}:2025Q1", f"onboarding_later:{A2}:2024-06-01", "onboarding_video", ""):
        assert other not in keys


def test_renewal_passed_is_read_from_the_key():
    assert key_reason(f"renewal_reminder:{A1}:2025-03-17", AS_OF) == "renewal_passed"
    assert key_reason(f"renewal_reminder:{A1}:2025-03-18", AS_OF) is None  # the day itself
    assert key_reason(f"qbr:{A1}:2025Q1", AS_OF) is None
    assert key_reason(f"renewal_reminder:{A1}:oops", AS_OF) is None


def test_closes_the_open_unedited_task_with_the_reason_and_the_marker():
    qbr = f"qbr:{A1}:2025Q1"
    renewal = f"renewal_reminder:{A2}:2025-03-10"
    (c1, c2) = closes([open_task(qbr), open_task(renewal)], {qbr: "qbr_held"})
    assert (c1.sync_key, c1.action, c1.reason, c1.task_id) == (qbr, "update", "qbr_held", "00T25Q1")
    assert c1.fields["Status"] == "Completed"
    assert c1.fields["Description"].startswith(
        "QBRを実施してください\n\n【自動クローズ】2025-03-18 時点"
    )
    assert is_auto_closed(c1.fields["Description"])
    assert c2.reason == "renewal_passed" and "契約更新日を過ぎた" in c2.fields["Description"]


def test_never_touches_edited_completed_wanted_or_out_of_scope_tasks():
    qbr = f"qbr:{A1}:2025Q1"
    reason = {qbr: "qbr_held"}
    assert closes([open_task(qbr, editor=CSM)], reason) == []  # the CSM edited it
    assert closes([open_task(qbr, IsClosed=True, Status="Completed")], reason) == []
    assert closes([open_task(qbr, IsDeleted=True)], reason) == []
    assert closes([open_task(qbr)], reason, desired=[qbr]) == []  # still wanted
    assert closes([open_task(qbr)], reason, scope=[A2]) == []  # not scored by this run
    assert closes([open_task(qbr)], {}) == []  # no reason known
    assert closes([open_task(f"overdue_touch:{A1}:2025-03-01")], {}) == []  # not closable


def test_closed_description_in_english_and_without_previous_text():
    text = closed_description(None, "onboarding_done", EN, as_of=AS_OF)
    assert text.startswith("[Closed automatically] As of 2025-03-18")
    assert text.endswith("\n#sfsync-auto-closed")


def test_closable_followups_combines_the_reasons():
    got = closable_followups(
        accounts(),
        as_of=AS_OF,
        playbook=PLAYBOOK,
        activities=activities((A1, "2025-03-14", "QBR", True)),
        usage=usage(("t1", "2025-03", 1)),
    )
    assert got[f"qbr:{A1}:2025Q1"] == "qbr_held"
    assert got[f"onboarding_video:{A1}:2025-02-01"] == "onboarding_done"
