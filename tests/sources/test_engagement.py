"""Engagement logs (SPEC §3, seed 000): the per-content log, its aggregation and validation,
the tutorial date, the SQL and file mappings, and a job whose usage source has a content log."""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sfsync_sandbox.metabase import load_content_log, load_usage
from sfsync_sandbox.sample_data import generate

from sfsync.errors import InputDataError
from sfsync.jobs import Job
from sfsync.sources.columns import ColumnMapping, apply_mapping, load_column_mapping
from sfsync.sources.engagement import (
    aggregate_content_log,
    derive_tutorial_completed,
    merge_engagement,
)
from sfsync.sources.extract import Readers, SourceRun, check_quarantine_shares, extract
from sfsync.sources.files import read_file
from sfsync.sources.sql import read_sql

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "columns"
ENGAGEMENT = ["video_views", "document_views", "email_delivered", "email_opens", "email_clicks"]


def content_mapping() -> ColumnMapping:
    return load_column_mapping(MAPPINGS / "content_log.yaml")


def log_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["tenant_id", "month", "content_id", "kind", "views", "completion_ratio"]
    )


# --- aggregation (pure) ----------------------------------------------------------------------


def test_views_are_summed_per_tenant_month_and_kind():
    log = log_frame(
        [
            ("t1", "2025-01", "v1", "video", 3, 0.5),
            ("t1", "2025-01", "v2", "video", 4, 1.0),
            ("t1", "2025-01", "d1", "document", 2, 0.2),
            ("t1", "2025-01", "m1", "mail", 5, None),
            ("t1", "2025-02", "v1", "video", 1, 0.9),
            ("t2", "2025-02", "m1", "mail", 7, None),
        ]
    )
    agg = aggregate_content_log(log).set_index(["tenant_id", "month"])
    assert agg.loc[("t1", "2025-01")].to_dict() == {
        "video_views": 7.0, "document_views": 2.0, "email_opens": 5.0,
    }  # fmt: skip
    # a tenant-month without rows of a kind the log holds had no views of it
    assert agg.loc[("t1", "2025-02")].to_dict() == {
        "video_views": 1.0, "document_views": 0.0, "email_opens": 0.0,
    }  # fmt: skip
    assert agg.loc[("t2", "2025-02"), "email_opens"] == 7.0


def test_a_kind_the_log_never_holds_is_not_known():
    agg = aggregate_content_log(log_frame([("t1", "2025-01", "v1", "video", 3, 0.5)]))
    assert list(agg.columns) == ["tenant_id", "month", "video_views"]


def test_merge_fills_gaps_only_and_counts_unplaced_rows():
    usage = pd.DataFrame(
        {
            "tenant_id": ["t1", "t1", "t2", "t3"],
            "month": ["2025-01", "2025-02", "2025-02", "2024-06"],
            "video_views": [100.0, None, None, None],
        },
        index=[10, 11, 12, 13],
    )
    agg = aggregate_content_log(
        log_frame(
            [
                ("t1", "2025-01", "v1", "video", 3, 0.5),
                ("t1", "2025-02", "v1", "video", 2, 0.5),
                ("t9", "2025-02", "v1", "video", 8, 0.5),  # no usage row
                ("t1", "2025-02", "m1", "mail", 4, None),
            ]
        )
    )
    merged = merge_engagement(usage, agg)
    frame = merged.frame
    assert list(frame.index) == [10, 11, 12, 13]
    assert frame["video_views"].tolist()[:3] == [100.0, 2.0, 0.0]  # the source's own 100 wins
    assert pd.isna(frame.loc[13, "video_views"])  # a month the log does not cover: unknown
    assert frame["email_opens"].tolist()[:3] == [0.0, 4.0, 0.0]
    assert merged.filled == {"video_views": 2, "email_opens": 3}
    assert merged.unmatched_rows == 1


def test_tutorial_completed_is_derived_from_the_first_completion_date():
    usage = pd.DataFrame(
        {
            "tenant_id": ["a", "a", "a", "b", "c"],
            "month": ["2025-01", "2025-02", "2025-03", "2025-02", "2025-02"],
            # a gives the date on its month of completion only
            "tutorial_completed_at": pd.to_datetime([None, "2025-02-28", None, None, None]),
            "tutorial_completed": pd.array([pd.NA, pd.NA, pd.NA, pd.NA, True], dtype="boolean"),
        }
    )
    out = derive_tutorial_completed(usage)
    assert out["tutorial_completed"].tolist() == [False, True, True, False, True]
    assert (out.loc[:2, "tutorial_completed_at"] == pd.Timestamp("2025-02-28")).all()
    # no date anywhere: nothing to derive from, the frame stays as it was
    no_dates = usage.assign(tutorial_completed_at=pd.NaT)
    assert derive_tutorial_completed(no_dates) is no_dates


# --- validation: the content log mapping ------------------------------------------------------


def test_bad_kind_and_ratio_outside_0_1_are_quarantined_with_reasons():
    raw = pd.DataFrame(
        {
            "tenant_id": ["t1", "t1", "t1", "t1", "t1"],
            "month": ["2025-01"] * 5,
            "content_id": ["v1", "w1", "v2", "d1", "v3"],
            "kind": ["Video", "webinar", "video", "document", "video"],
            "views": ["3", "1", "2", "4", "-1"],
            "completion_ratio": ["0.5", "0.5", "1.5", "1.004", ""],
        }
    )
    result = apply_mapping(raw, content_mapping(), source="usage.content_log")
    assert result.frame["content_id"].tolist() == ["v1", "d1"]
    assert result.frame["kind"].tolist() == ["video", "document"]  # spelling of the mapping
    reasons = dict(zip(result.quarantined["row_ref"], result.quarantined["reason"], strict=True))
    assert reasons == {
        "row 2 (tenant_id=t1, month=2025-01, content_id=w1)":
            "kind: 'webinar' is not one of video, document, mail",
        "row 3 (tenant_id=t1, month=2025-01, content_id=v2)":
            "completion_ratio: '1.5' is outside the plausible range 0–1",
        "row 5 (tenant_id=t1, month=2025-01, content_id=v3)":
            "views: '-1' is below the minimum 0",
    }  # fmt: skip


def test_allowed_values_only_for_text_columns():
    with pytest.raises(ValueError, match="only for type: str"):
        ColumnMapping.model_validate({"columns": {"n": {"type": "int", "values": ["1"]}}})


def test_engagement_counts_outside_their_plausible_range_are_bad_rows():
    raw = pd.DataFrame(
        {
            "tenant_id": ["t1", "t2"],
            "month": ["2025-01"] * 2,
            "email_delivered": ["5", "1e12"],
            "document_views": ["inf", "2"],
        }  # fmt: skip
    )
    result = apply_mapping(raw, load_column_mapping(MAPPINGS / "metabase_usage.yaml"), source="u")
    reasons = " | ".join(result.quarantined["reason"])
    assert "document_views: 'inf' is not a finite number" in reasons
    assert "email_delivered: '1e12' is outside the plausible range" in reasons
    assert result.frame.empty


# --- the SQL and file mappings read the engagement columns -------------------------------------


@pytest.fixture(scope="module")
def book():
    return generate(accounts=60, seed=11, as_of=date(2025, 3, 15))


def test_sql_mapping_reads_the_product_tables_engagement_columns(tmp_path, book):
    db = tmp_path / "warehouse.db"
    load_usage(db, book.usage)
    raw = read_sql(
        f"sqlite:///{db}",
        "select * from tenant_monthly_usage where month between :from_month and :to_month",
        {"from_month": "2024-02", "to_month": "2025-02"},
    )
    result = apply_mapping(raw, load_column_mapping(MAPPINGS / "sql_usage.yaml"), source="usage")
    assert result.quarantined_count == 0 and len(result.frame) == len(book.usage)
    got = result.frame.sort_values(["tenant_id", "month"], ignore_index=True)
    want = book.usage.sort_values(["tenant_id", "month"], ignore_index=True)
    for column in ENGAGEMENT:
        assert got[column].tolist() == want[column].tolist(), column
    assert got["tutorial_completed"].tolist() == want["tutorial_completed"].tolist()
    assert (got["tutorial_completed_at"] == want["tutorial_completed_at"]).sum() == (
        want["tutorial_completed_at"].notna().sum()
    )
    assert got["tutorial_completed_at"].isna().equals(want["tutorial_completed_at"].isna())


def test_file_mapping_reads_a_csv_export(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text(
        "tenant_id,month,deliveries,document_views,email_delivered,tutorial_completed_at\n"
        "007,2025-02,3,12,40,2025-02-03\n"
        "008,2025-02,1,,,\n"
    )
    raw = read_file(path)
    result = apply_mapping(raw, load_column_mapping(MAPPINGS / "file_usage.yaml"), source="usage")
    frame = derive_tutorial_completed(result.frame)
    assert frame["document_views"].tolist()[0] == 12 and frame["email_delivered"].iloc[0] == 40
    assert frame["tutorial_completed"].tolist() == [True, False]


# --- a job whose usage source has a content log ------------------------------------------------


def _job(usage_extra: dict) -> Job:
    return Job.model_validate(
        {
            "sources": {
                "accounts": {"kind": "file", "path": "accounts.csv", "columns": "accounts"},
                "usage": {
                    "kind": "file",
                    "path": "usage.csv",
                    "columns": "file_usage",
                    **usage_extra,
                },  # fmt: skip
            },
            "compute": {"kind": "score"},
        }
    )


def _mappings() -> dict[str, ColumnMapping]:
    accounts = ColumnMapping.model_validate(
        {
            "key": ["account_id"],
            "columns": {
                "account_id": {"type": "str", "required": True},
                "tenant_id": {"type": "str"},
            },
        }  # fmt: skip
    )
    return {
        "accounts": accounts,
        "usage": load_column_mapping(MAPPINGS / "file_usage.yaml"),
        "usage.content_log": content_mapping(),
    }


def test_extract_sums_the_content_log_into_usage_and_quarantines_its_bad_rows(tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id,tenant_id\nA1,t1\nA2,t2\n")
    (tmp_path / "usage.csv").write_text(
        "tenant_id,month,deliveries,video_views\nt1,2025-02,3,\nt2,2025-02,1,9\n"
    )
    (tmp_path / "content.csv").write_text(
        "tenant_id,month,content_id,kind,views,completion_ratio\n"
        "t1,2025-02,v1,video,4,0.5\n"
        "t1,2025-02,v2,video,2,0.9\n"
        "t1,2025-02,m1,mail,6,\n"
        "t2,2025-02,v1,video,1,1.7\n"
    )
    job = _job({"content_log": {"kind": "file", "path": "content.csv"}})
    run = SourceRun(as_of=date(2025, 3, 10), root=tmp_path, bulk_threshold=10_000)
    inputs = extract(job, _mappings(), Readers(), run)
    usage = inputs.frames["usage"].set_index("tenant_id")
    assert usage.loc["t1", "video_views"] == 6 and usage.loc["t1", "email_opens"] == 6
    assert usage.loc["t2", "video_views"] == 9  # the usage row's own figure wins
    assert usage.loc["t2", "email_opens"] == 0  # the log covers mail: none for t2
    assert inputs.quarantined_counts == {"accounts": 0, "usage.content_log": 1, "usage": 0}
    assert "completion_ratio: '1.7'" in inputs.quarantined["reason"].iloc[0]
    # 1 bad row of 4 is more than the content log's allowed share: the run stops, naming it
    with pytest.raises(InputDataError, match=r"sources.usage.content_log.max_quarantine_share"):
        check_quarantine_shares(inputs, job, "nightly")


def test_content_log_is_for_the_usage_source_only():
    with pytest.raises(ValueError, match="content_log applies to usage only"):
        Job.model_validate(
            {
                "sources": {"accounts": {"kind": "salesforce", "object": "accounts",
                                         "content_log": {"kind": "file", "path": "c.csv"}}},
                "compute": {"kind": "score"},
            }
        )  # fmt: skip


def test_the_content_log_has_its_own_column_mapping():
    from sfsync.project import mapped_roles

    job = _job({"content_log": {"kind": "metabase", "card": 4}})
    assert mapped_roles(job)["usage.content_log"] == "content_log"
    job = _job({"content_log": {"kind": "metabase", "card": 4, "columns": "my_log"}})
    assert mapped_roles(job)["usage.content_log"] == "my_log"


def test_sample_content_log_sums_to_the_usage_columns(book):
    log = book.content_log()
    mapped = apply_mapping(log, content_mapping(), source="usage.content_log")
    assert mapped.quarantined_count == 0
    usage = book.usage.drop(columns=["video_views", "document_views", "email_opens"])
    merged = merge_engagement(usage, aggregate_content_log(mapped.frame)).frame
    for column in ("video_views", "document_views", "email_opens"):
        assert merged[column].tolist() == book.usage[column].tolist(), column


def test_sample_warehouse_holds_the_content_log(tmp_path, book):
    db = tmp_path / "w.db"
    load_usage(db, book.usage)
    assert load_content_log(db, book.content_log()) == len(book.content_log())
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("select distinct content_kind from content_engagement"))
        assert {k for (k,) in kinds} == {"video", "document", "mail"}
    engine.dispose()


def test_validate_checks_the_content_log_source_and_its_mapping(tmp_path):
    from sfsync.config import load_project
    from sfsync.errors import ConfigError
    from sfsync.project import load_bundle
    from tests.cli_process import make_project

    config = make_project(tmp_path / "project")
    job = config.parent / "jobs" / "nightly.yaml"
    text = job.read_text(encoding="utf-8").replace(
        "    columns: metabase_usage\n",
        "    columns: metabase_usage\n"
        "    content_log: {kind: file, path: data/content.csv, columns: my_content_log}\n",
    )
    job.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_bundle(load_project(config), "nightly")
    problems = " ".join(str(err.value).split())
    assert "sources.usage.content_log.columns" in problems and "my_content_log.yaml" in problems
    assert "sources.usage.content_log.path" in problems and "content.csv" in problems
    # with the shipped mapping and the file in place, the job loads with the log's mapping
    job.write_text(text.replace("columns: my_content_log", "columns: content_log"), "utf-8")
    (config.parent / "data").mkdir()
    (config.parent / "data" / "content.csv").write_text("tenant_id\n", encoding="utf-8")
    bundle = load_bundle(load_project(config), "nightly")
    assert bundle.column_mappings["usage.content_log"].columns["kind"].values == [
        "video", "document", "mail",
    ]  # fmt: skip
