"""The Metabase sandbox over real HTTP: auth, card queries, the 2,000-row cap, exports, SQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests
from sfsync_sandbox.metabase import DEFAULT_CARDS_FILE, ROW_LIMIT, create_app, load_usage

from sfsync.errors import ConfigError
from tests.sandbox_services.conftest import serve

KEY = "mb_sandbox_key"
USER, PASSWORD = "admin@sandbox.example", "s3cret-pass"
CANONICAL = [
    "tenant_id",
    "month",
    "deliveries",
    "login_days",
    "last_login_date",
    "pipeline_conversion_rate",
    "plan_usage_ratio",
    "support_tickets",
    "video_views",
    "email_opens",
    "email_clicks",
    "document_views",
    "email_delivered",
    "tutorial_completed",
    "tutorial_completed_at",
]


def month_param(name: str, value):
    return {"type": "category", "target": ["variable", ["template-tag", name]], "value": value}


@pytest.fixture(scope="module")
def metabase(tmp_path_factory, big_book):
    db = tmp_path_factory.mktemp("mb") / "warehouse.db"
    assert load_usage(db, big_book.usage) == len(big_book.usage)
    app = create_app(db, DEFAULT_CARDS_FILE, KEY, USER, PASSWORD)
    with serve(app) as url:
        yield url, app, big_book


@pytest.fixture
def api(metabase):
    url, app, _ = metabase
    app.set_faults()
    session = requests.Session()
    session.headers["x-api-key"] = KEY
    return url, session


def test_usage_has_more_than_a_page(big_book):
    assert len(big_book.usage) > ROW_LIMIT


def test_session_login_and_use(metabase):
    url, _, _ = metabase
    r = requests.post(f"{url}/api/session", json={"username": USER, "password": PASSWORD})
    assert r.status_code == 200
    session_id = r.json()["id"]
    card = requests.get(f"{url}/api/card/1", headers={"X-Metabase-Session": session_id})
    assert card.status_code == 200
    assert card.json()["name"] == "Monthly usage by tenant"
    tags = card.json()["dataset_query"]["native"]["template-tags"]
    assert set(tags) == {"from_month", "to_month"}


def test_wrong_password_is_401_with_metabase_error(metabase):
    url, _, _ = metabase
    r = requests.post(f"{url}/api/session", json={"username": USER, "password": "nope"})
    assert r.status_code == 401
    assert r.json() == {"errors": {"password": "did not match stored password"}}
    assert "nope" not in r.text


def test_missing_username_is_400(metabase):
    url, _, _ = metabase
    r = requests.post(f"{url}/api/session", json={"password": PASSWORD})
    assert r.status_code == 400
    assert "username" in r.json()["errors"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"X-Metabase-Session": "00000000-0000-0000-0000-000000000000"}],
)
def test_unauthenticated(metabase, headers):
    url, _, _ = metabase
    r = requests.post(f"{url}/api/card/1/query", headers=headers, json={})
    assert r.status_code == 401
    assert r.text == "Unauthenticated"


def test_query_is_capped_at_2000_rows(api, metabase):
    url, s = api
    r = s.post(f"{url}/api/card/1/query", json={})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "completed"
    assert body["row_count"] == ROW_LIMIT
    assert len(body["data"]["rows"]) == ROW_LIMIT
    assert body["data"]["rows_truncated"] == ROW_LIMIT
    assert [c["name"] for c in body["data"]["cols"]] == CANONICAL


def test_uncapped_json_export_with_form_parameters(api, metabase):
    url, s = api
    _, _, book = metabase
    r = s.post(f"{url}/api/card/1/query/json", data={"parameters": "[]"})
    assert r.status_code == 200
    rows = r.json()
    assert len(rows) == len(book.usage) > ROW_LIMIT
    assert list(rows[0]) == CANONICAL
    first = book.usage.sort_values(["tenant_id", "month"]).iloc[0]
    assert rows[0]["tenant_id"] == first["tenant_id"]
    assert rows[0]["deliveries"] == first["deliveries"]
    assert rows[0]["tutorial_completed"] is bool(first["tutorial_completed"])


def test_uncapped_csv_export_with_json_body(api, metabase):
    url, s = api
    _, _, book = metabase
    r = s.post(f"{url}/api/card/1/query/csv", json={"parameters": []})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.headers.get("Transfer-Encoding") == "chunked"  # streamed, like Metabase downloads
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(book.usage)
    assert set(rows[0]["tutorial_completed"] for _ in [0]) <= {"true", "false"}


def test_api_format_export_is_uncapped(api, metabase):
    url, s = api
    _, _, book = metabase
    body = s.post(f"{url}/api/card/1/query/api", data={"parameters": "[]"}).json()
    assert body["status"] == "completed"
    assert body["row_count"] == len(book.usage) and "rows_truncated" not in body["data"]


def test_month_range_parameters(api, metabase):
    url, s = api
    _, _, book = metabase
    params = [month_param("from_month", "2024-12"), month_param("to_month", "2025-01")]
    r = s.post(f"{url}/api/card/1/query", json={"parameters": params})
    body = r.json()
    expected = book.usage[book.usage["month"].between("2024-12", "2025-01")]
    assert body["row_count"] == len(expected)
    assert {row[1] for row in body["data"]["rows"]} == {"2024-12", "2025-01"}
    assert "rows_truncated" not in body["data"]
    # form-encoded parameters on the export endpoint, as Metabase's own UI sends them
    r = s.post(f"{url}/api/card/1/query/json", data={"parameters": json.dumps(params[:1])})
    assert len(r.json()) == int((book.usage["month"] >= "2024-12").sum())


def test_card_2_needs_its_month(api, metabase):
    url, s = api
    _, _, book = metabase
    r = s.post(f"{url}/api/card/2/query", json={})
    assert r.status_code == 202
    assert r.json()["status"] == "failed"
    assert r.json()["error_type"] == "missing-required-parameter"
    r = s.post(f"{url}/api/card/2/query", json={"parameters": [month_param("month", ["2025-02"])]})
    assert r.json()["row_count"] == int((book.usage["month"] == "2025-02").sum())


def test_parameter_by_card_parameter_id(api, metabase):
    url, s = api
    _, _, book = metabase
    card = s.get(f"{url}/api/card/2").json()
    param_id = card["parameters"][0]["id"]
    body = {"parameters": [{"id": param_id, "type": "category", "value": "2025-01"}]}
    r = s.post(f"{url}/api/card/2/query", json=body)
    assert r.json()["row_count"] == int((book.usage["month"] == "2025-01").sum())


def test_unknown_template_tag_is_rejected_like_metabase(api):
    url, s = api
    r = s.post(f"{url}/api/card/1/query", json={"parameters": [month_param("form_month", "x")]})
    assert r.status_code == 400
    body = r.json()
    assert (
        body["message"]
        == 'Invalid parameter: Card 1 does not have a template tag named "form_month".'
    )
    assert body["allowed-parameters"] == ["from_month", "to_month"]
    r = s.post(
        f"{url}/api/card/1/query/csv",
        data={"parameters": json.dumps([month_param("form_month", "x")])},
    )
    assert r.status_code == 400


def test_parameter_values_are_bound_not_spliced(api):
    url, s = api
    evil = "2025-02' OR '1'='1"
    r = s.post(f"{url}/api/card/2/query", json={"parameters": [month_param("month", evil)]})
    assert r.json()["status"] == "completed"
    assert r.json()["row_count"] == 0


def test_unknown_card_is_404(api):
    url, s = api
    for path in ("/api/card/99", "/api/card/99/query", "/api/card/99/query/json"):
        r = s.request("GET" if path.endswith("99") else "POST", url + path)
        assert r.status_code == 404
        assert r.text == "Not found."


def test_dataset_native_sql_with_template_tag(api, metabase):
    url, s = api
    _, _, book = metabase
    query = {
        "database": 1,
        "type": "native",
        "native": {
            "query": "SELECT month, SUM(webinars_delivered) AS deliveries "
            "FROM tenant_monthly_usage WHERE month >= {{since}} GROUP BY month ORDER BY month",
            "template-tags": {"since": {"name": "since", "type": "text", "required": True}},
        },
        "parameters": [month_param("since", "2025-01")],
    }
    r = s.post(f"{url}/api/dataset", json=query)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "completed"
    expected = book.usage[book.usage["month"] >= "2025-01"].groupby("month")["deliveries"].sum()
    assert [row[0] for row in body["data"]["rows"]] == list(expected.index)
    assert [row[1] for row in body["data"]["rows"]] == [int(v) for v in expected]


def test_dataset_is_capped_and_exports_are_not(api, metabase):
    url, s = api
    _, _, book = metabase
    query = {
        "database": 1,
        "type": "native",
        "native": {"query": "SELECT * FROM tenant_monthly_usage"},
    }
    capped = s.post(f"{url}/api/dataset", json=query).json()
    assert capped["row_count"] == ROW_LIMIT and capped["data"]["rows_truncated"] == ROW_LIMIT
    full = s.post(f"{url}/api/dataset/json", data={"query": json.dumps(query)})
    assert full.status_code == 200
    assert len(full.json()) == len(book.usage)
    csv_rows = s.post(f"{url}/api/dataset/csv", data={"query": json.dumps(query)}).text
    assert len(csv_rows.strip().splitlines()) == len(book.usage) + 1


def test_sql_error_has_metabase_shape(api):
    url, s = api
    query = {"database": 1, "type": "native", "native": {"query": "SELECT nope FROM nowhere"}}
    r = s.post(f"{url}/api/dataset", json=query)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "failed"
    assert body["error_type"] == "invalid-query"
    assert "nowhere" in body["error"]
    assert body["data"] == {"rows": [], "cols": []}
    r = s.post(f"{url}/api/dataset/json", data={"query": json.dumps(query)})
    assert r.status_code == 400 and r.json()["status"] == "failed"


def test_warehouse_is_read_only(api):
    url, s = api
    query = {"database": 1, "type": "native", "native": {"query": "DELETE FROM tenants"}}
    assert s.post(f"{url}/api/dataset", json=query).json()["status"] == "failed"


def test_unknown_database_is_404(api):
    url, s = api
    query = {"database": 7, "type": "native", "native": {"query": "SELECT 1"}}
    assert s.post(f"{url}/api/dataset", json=query).status_code == 404


def test_counters_and_reset(metabase):
    url, _, _ = metabase
    requests.post(f"{url}/_sandbox/counters/reset")
    requests.post(f"{url}/api/card/1/query", headers={"x-api-key": KEY}, json={})
    requests.post(f"{url}/api/card/1/query/csv", headers={"x-api-key": KEY})
    counters = requests.get(f"{url}/_sandbox/counters").json()
    assert counters["POST /api/card/:id/query"] == 1
    assert counters["POST /api/card/:id/query/csv"] == 1
    assert counters["api_calls"] == 2
    assert counters["rows_returned"] > ROW_LIMIT


def test_seeded_503_fault(metabase):
    url, _, _ = metabase

    def statuses():
        return [
            requests.get(f"{url}/api/card/1", headers={"x-api-key": KEY}).status_code
            for _ in range(30)
        ]

    requests.put(f"{url}/_sandbox/faults", json={"seed": 3, "http_503": 0.3})
    first = statuses()
    requests.put(f"{url}/_sandbox/faults", json={"seed": 3, "http_503": 0.3})
    assert statuses() == first
    assert 0 < first.count(503) < 30 and set(first) == {200, 503}
    requests.delete(f"{url}/_sandbox/faults")
    assert set(statuses()) == {200}


@pytest.mark.parametrize("faults", [{"http_503": "lots"}, {"http_503": 2}, {"nope": 1}])
def test_bad_faults_are_400(metabase, faults):
    url, _, _ = metabase
    requests.delete(f"{url}/_sandbox/faults")
    assert requests.put(f"{url}/_sandbox/faults", json=faults).status_code == 400
    assert requests.get(f"{url}/_sandbox/faults").json() == {}


def test_session_expiry_fault(metabase):
    url, _, _ = metabase
    requests.put(f"{url}/_sandbox/faults", json={"session_expiry_after": 2})
    sid = requests.post(f"{url}/api/session", json={"username": USER, "password": PASSWORD})
    headers = {"X-Metabase-Session": sid.json()["id"]}
    codes = [requests.get(f"{url}/api/card/1", headers=headers).status_code for _ in range(3)]
    assert codes == [200, 200, 401]
    requests.delete(f"{url}/_sandbox/faults")


def test_broken_cards_file_names_file_and_key(tmp_path):
    bad = tmp_path / "cards.yaml"
    bad.write_text("cards:\n  - id: 1\n    name: x\n    sqll: SELECT 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        create_app(tmp_path / "w.db", bad, KEY, USER, PASSWORD)
    text = str(info.value)
    assert "cards.yaml" in text and "cards.0.sqll" in text
