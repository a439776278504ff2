"""The Metabase source reads the engagement logs from the sandbox's Metabase over real HTTP:
card 1's engagement columns, and card 4's per-content log summed into them by the job's
``content_log``."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sfsync_sandbox.metabase as sandbox_metabase
from sfsync_sandbox.sample_data import generate

from sfsync.jobs import Job
from sfsync.sources.columns import ColumnMapping, apply_mapping, load_column_mapping
from sfsync.sources.extract import Readers, SourceRun, extract
from sfsync.sources.metabase import MetabaseClient

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "columns"
API_KEY = "mb_engagement_key"
AS_OF = date(2025, 3, 15)
ENGAGEMENT = ["video_views", "document_views", "email_delivered", "email_opens", "email_clicks"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from werkzeug.serving import make_server

    book = generate(accounts=50, seed=5, as_of=AS_OF)
    db = tmp_path_factory.mktemp("metabase") / "warehouse.db"
    sandbox_metabase.load_usage(db, book.usage)
    sandbox_metabase.load_content_log(db, book.content_log())
    app = sandbox_metabase.create_app(
        db, sandbox_metabase.DEFAULT_CARDS_FILE, API_KEY, "ops@example.com", "pw"
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", book
    server.shutdown()
    thread.join()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["tenant_id", "month"], ignore_index=True)


def test_card_1_returns_the_engagement_columns(served):
    url, book = served
    raw = MetabaseClient(url, api_key=API_KEY).card_rows(1, {})
    mapped = apply_mapping(raw, load_column_mapping(MAPPINGS / "metabase_usage.yaml"), source="u")
    assert mapped.quarantined_count == 0
    got, want = _sorted(mapped.frame), _sorted(book.usage)
    for column in ENGAGEMENT:
        assert got[column].tolist() == want[column].tolist(), column
    assert got["tutorial_completed"].tolist() == want["tutorial_completed"].tolist()
    dates = got["tutorial_completed_at"]
    assert dates.notna().any() and dates.isna().equals(want["tutorial_completed_at"].isna())
    assert (dates.dropna() == want["tutorial_completed_at"].dropna()).all()


def test_a_content_log_card_fills_the_usage_rows(served, tmp_path):
    url, book = served
    (tmp_path / "accounts.csv").write_text(
        "account_id,tenant_id\n"
        + "".join(f"A{i},{t}\n" for i, t in enumerate(book.usage["tenant_id"].unique()))
    )
    job = Job.model_validate(
        {
            "sources": {
                "accounts": {"kind": "file", "path": "accounts.csv"},
                "usage": {
                    "kind": "metabase",
                    "card": 2,  # last month's usage: no view counts of its own here
                    "parameters": {"month": "{scoring_month}"},
                    "columns": "usage_without_views",
                    "content_log": {
                        "kind": "metabase",
                        "card": 4,
                        "parameters": {
                            "from_month": "{scoring_month}",
                            "to_month": "{scoring_month}",
                        },
                    },  # fmt: skip
                },
            },
            "compute": {"kind": "score"},
        }
    )
    usage_mapping = load_column_mapping(MAPPINGS / "metabase_usage.yaml")
    without_views = ColumnMapping.model_validate(
        {
            "key": ["tenant_id", "month"],
            "columns": {
                name: spec.model_dump(exclude_none=True)
                for name, spec in usage_mapping.columns.items()
                if name not in ("video_views", "document_views", "email_opens")
            },
        }
    )
    mappings = {
        "accounts": ColumnMapping.model_validate(
            {"columns": {"account_id": {"required": True}, "tenant_id": {}}}
        ),
        "usage": without_views,
        "usage.content_log": load_column_mapping(MAPPINGS / "content_log.yaml"),
    }
    readers = Readers(metabase=MetabaseClient(url, api_key=API_KEY))
    run = SourceRun(as_of=AS_OF, root=tmp_path, bulk_threshold=10_000)
    inputs = extract(job, mappings, readers, run)
    assert inputs.quarantined_counts["usage.content_log"] == 0
    got = _sorted(inputs.frames["usage"])
    want = _sorted(book.usage.loc[book.usage["month"] == "2025-02"])
    assert len(got) == len(want) > 0
    for column in ("video_views", "document_views", "email_opens"):
        assert got[column].tolist() == want[column].tolist(), column
