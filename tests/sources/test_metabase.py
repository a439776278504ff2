"""The Metabase source over real HTTP against the sandbox's Metabase app (a WSGI server on
loopback): export endpoints past the 2,000-row cap, parameters, sessions, errors."""

import threading
from datetime import date

import pandas as pd
import pytest
import sfsync_sandbox.metabase as sandbox_metabase

from sfsync.errors import SourceError
from sfsync.sources.columns import apply_mapping, load_column_mapping
from sfsync.sources.metabase import MetabaseClient, query_response_frame

API_KEY = "mb_test_key"
USER, PASSWORD = "ops@example.com", "correct horse"
TENANTS = 260
MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)][1:14]  # 2024-02..2025-02


def _usage() -> pd.DataFrame:
    rows = [
        {
            "tenant_id": f"tn-{t:04d}",
            "month": month,
            "deliveries": (t + i) % 5,
            "login_days": (t * 3 + i) % 22,
            "last_login_date": f"{month}-1{t % 9}",
            "pipeline_conversion_rate": 0.2,
            "plan_usage_ratio": 0.5,
            "support_tickets": t % 3,
        }
        for t in range(TENANTS)
        for i, month in enumerate(MONTHS)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def metabase_url(tmp_path_factory):
    from werkzeug.serving import make_server

    db = tmp_path_factory.mktemp("metabase") / "warehouse.db"
    sandbox_metabase.load_usage(db, _usage())
    app = sandbox_metabase.create_app(
        db, sandbox_metabase.DEFAULT_CARDS_FILE, API_KEY, USER, PASSWORD
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_card_export_returns_every_row_past_the_2000_cap(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    frame = client.card_rows(1, {"from_month": "2024-02", "to_month": "2025-02"})
    assert len(frame) == TENANTS * len(MONTHS) == 3380
    mapped = apply_mapping(
        frame, load_column_mapping("mappings/columns/metabase_usage.yaml"), source="usage"
    )
    assert mapped.quarantined_count == 0
    assert mapped.frame["deliveries"].sum() == _usage()["deliveries"].sum()
    assert client.api_calls == 2  # the card definition, then the export


def test_parameters_filter_the_card(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    frame = client.card_rows(1, {"from_month": "2025-02", "to_month": "2025-02"})
    assert len(frame) == TENANTS and set(frame["month"]) == {"2025-02"}
    assert len(client.card_rows(2, {"month": "2025-01"}, fmt="csv")) == TENANTS


def test_the_non_export_endpoint_is_capped_and_detected(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    response = client.request("POST", "/api/card/1/query", json={"parameters": []})
    with pytest.raises(SourceError, match="truncated the result of card 1 at 2,000 rows"):
        query_response_frame(response.json(), "card 1")


def test_session_login_and_relogin_after_expiry(metabase_url):
    import requests

    client = MetabaseClient(metabase_url, username=USER, password=PASSWORD)
    assert len(client.card_rows(2, {"month": "2025-02"})) == TENANTS
    requests.post(f"{metabase_url}/_sandbox/sessions/expire", timeout=5)
    assert len(client.card_rows(2, {"month": "2025-02"})) == TENANTS


def test_missing_card_and_unknown_parameter(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    with pytest.raises(SourceError, match="Metabase card 999 does not exist"):
        client.card_rows(999)
    with pytest.raises(SourceError, match="has no parameter"):
        client.card_rows(2, {"mnth": "2025-02"})


def test_native_sql_through_the_dataset_export(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    frame = client.native_rows(
        1,
        "SELECT tenant_id, month FROM tenant_monthly_usage WHERE month = {{month}}",
        {"month": "2024-12"},
    )
    assert len(frame) == TENANTS


def test_a_bad_query_is_a_source_error(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    with pytest.raises(SourceError, match="no such table"):
        client.native_rows(1, "SELECT * FROM no_such_table", {})


def test_dates_survive_the_round_trip(metabase_url):
    client = MetabaseClient(metabase_url, api_key=API_KEY)
    frame = client.card_rows(2, {"month": "2025-02"})
    mapped = apply_mapping(
        frame, load_column_mapping("mappings/columns/metabase_usage.yaml"), source="usage"
    ).frame
    first = mapped.sort_values("tenant_id").iloc[0]
    assert first["last_login_date"] == pd.Timestamp(date(2025, 2, 10))


def test_503s_are_retried_over_real_http(metabase_url):
    import requests

    requests.post(f"{metabase_url}/_sandbox/faults", json={"seed": 4, "http_503": 0.5}, timeout=5)
    try:
        waits = []
        client = MetabaseClient(metabase_url, api_key=API_KEY, max_attempts=8, sleep=waits.append)
        frame = client.card_rows(2, {"month": "2025-02"})
    finally:
        requests.delete(f"{metabase_url}/_sandbox/faults", timeout=5)
    assert len(frame) == TENANTS
    assert waits and client.api_calls == 2 + len(waits)


def test_sessions_expiring_mid_run_log_in_again(metabase_url):
    import requests

    requests.post(f"{metabase_url}/_sandbox/faults", json={"session_expiry_after": 1}, timeout=5)
    try:
        client = MetabaseClient(metabase_url, username=USER, password=PASSWORD)
        assert len(client.card_rows(2, {"month": "2025-02"})) == TENANTS
        assert client.api_calls == 5  # login, card, export (401), login again, export
    finally:
        requests.delete(f"{metabase_url}/_sandbox/faults", timeout=5)
