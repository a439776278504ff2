"""``sfsync doctor`` lists the largest usage tenants without an account and the accounts whose
tenant had no usage row, from the last finished run (no network needed)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from sfsync.ops.doctor import OK, SKIP, WARN, DoctorContext, check_tenant_links
from sfsync.state import runs
from sfsync.state.db import open_store
from sfsync.state.run_figures import record_figures


def _context(url: str) -> DoctorContext:
    project = SimpleNamespace(settings=SimpleNamespace(state_url=url))
    job = SimpleNamespace(sources={"accounts": object(), "usage": object()})
    return DoctorContext(project, {"nightly": job, "no-usage": SimpleNamespace(sources={})})


def test_no_finished_run_yet_is_a_skip(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    [row] = check_tenant_links(_context(url))
    assert (row.name, row.status) == ("usage tenants (nightly)", SKIP)


def test_the_last_runs_unknown_tenants_and_mislinks_are_listed(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    run_id = runs.start_run(store, "nightly", date(2025, 3, 15))
    figures = {
        "role": "usage",
        "rows": 900,
        "unknown_tenants": 42,
        "unknown_rows": 400,
        "largest_unknown": [["trial-0001", 13], ["internal-qa", 12]],
        "mislinked": [{"account_id": "001A", "name": "株式会社テスト", "tenant_id": "tnt-9"}],
    }
    record_figures(store, run_id, "nightly", date(2025, 3, 15), "input:usage", figures)
    runs.finish_run(store, run_id, "succeeded", counts={}, api_calls=0)
    store.dispose()
    unknown, mislinks = check_tenant_links(_context(url))
    assert unknown.status == OK
    assert "42 tenants without an account" in unknown.detail
    assert "trial-0001 (13 rows), internal-qa (12 rows)" in unknown.detail
    assert mislinks.status == WARN and "株式会社テスト (tnt-9)" in mislinks.detail
    assert "Tenant_Id__c" in mislinks.fix
