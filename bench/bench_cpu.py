"""CPU of the vectorised hot paths against the implementations they replaced (issue 14 item 6).

At N accounts (default 100,000) on the sample book's 13 months of usage it times, in this
process, the parsing of the Accounts as Bulk 2.0 query result pages (CSV), the decoding of Metabase's JSON export of the usage rows (slab by slab, against
``json.loads`` and ``from_records``: CPU and the rise of the resident peak), the column
mapping of those rows, the whole usage extract (export decode + column mapping) from the JSON
export against the CSV export (Arrow's reader, and pandas' reader on the decoded text as the
CSV path did before; CPU and the rise of the resident peak, mapped frames asserted equal), the record diff of an unchanged night (every account's desired
values equal to what the org holds), the filter of the read Tasks by this run's keys
(``isin``) and the walk over Task rows of the Task-building steps, each with the current code and with the implementation it replaced (kept in
``tests/perf/`` or the pandas call itself); it prints process CPU seconds and the speed-up.

    python bench/bench_cpu.py                  # 100,000 accounts
    python bench/bench_cpu.py --accounts 20000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = date(2025, 3, 15)


def _cpu(label: str, fn):
    started = time.process_time()
    result = fn()
    seconds = time.process_time() - started
    print(f"  {label:<44} {seconds:7.2f} s CPU", flush=True)
    return result, seconds


def _export_body(usage) -> bytes:
    """The usage frame as Metabase's JSON export sends it (a list of row objects)."""
    import json

    records = usage.astype(object).where(usage.notna(), None).to_dict(orient="records")
    for row in records:
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                row[key] = value.isoformat()[:10]
    return json.dumps(records, ensure_ascii=False).encode()


def _export_csv_body(usage) -> bytes:
    """The usage frame as Metabase's CSV export sends it (``format_rows=false``: a header of
    column names, raw values, null = empty cell, booleans as true/false, UTF-8, ``\\n``)."""
    import csv
    import io

    records = usage.astype(object).where(usage.notna(), None)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(records.columns))
    for row in records.itertuples(index=False):
        writer.writerow(
            [
                ""
                if value is None
                else ("true" if value else "false")
                if isinstance(value, bool)
                else value.isoformat()[:10]
                if hasattr(value, "isoformat")
                else value
                for value in row
            ]
        )
    return buffer.getvalue().encode()


def _bulk_pages(frame, rows: int = 50_000) -> list[str]:
    """The frame as Bulk API 2.0 query result pages (CSV, every value quoted, null = empty)."""
    import csv

    text = frame.astype(object).where(frame.notna(), None).astype(str).replace("None", "")
    return [
        text.iloc[start : start + rows].to_csv(index=False, quoting=csv.QUOTE_ALL)
        for start in range(0, len(text), rows)
    ]


def _peak_rise(fn):
    """(result, MiB the resident peak rose by while ``fn`` ran; None where Linux's
    /proc/self/clear_refs cannot reset the peak)."""

    def hwm() -> int:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # the peak starts again from the current resident size
        before = hwm()
    except OSError:
        return fn(), None
    result = fn()
    return result, (hwm() - before) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    import io
    import json

    import pandas as pd
    from sfsync_sandbox.sample_data import generate

    from sfsync.frames import isin, iter_records
    from sfsync.salesforce.diff import diff_records
    from sfsync.salesforce.mapping import load_mapping
    from sfsync.salesforce.query import csv_frame
    from sfsync.sources.columns import apply_mapping, load_column_mapping
    from sfsync.sources.csv_rows import csv_frame as csv_export_frame
    from sfsync.sources.json_rows import records_frame
    from tests.perf import reference, reference_columns
    from tests.sync.synthetic import synthetic_result

    sample = generate(args.accounts, args.seed, AS_OF)
    body = _export_body(sample.usage)
    csv_body = _export_csv_body(sample.usage)
    pages = _bulk_pages(sample.accounts)
    del sample
    print(
        f"sfsync CPU benchmark: {args.accounts} accounts, usage export of "
        f"{len(body) / 1e6:.0f} MB as JSON, {len(csv_body) / 1e6:.0f} MB as CSV"
    )
    (raw, rise), t_new = _cpu("usage JSON export decode (slab by slab)",
                              lambda: _peak_rise(lambda: records_frame(body)))  # fmt: skip
    (old_raw, old_rise), t_old = _cpu(
        "usage JSON export decode (whole, from_records)",
        lambda: _peak_rise(lambda: pd.DataFrame.from_records(json.loads(body))),
    )
    pd.testing.assert_frame_equal(raw, old_raw, check_exact=True)
    del old_raw
    if rise is not None:
        print(f"    resident peak rose by {rise:.0f} MiB against {old_rise:.0f} MiB; same frame")
    frames, t_new = _cpu("Bulk query CSV pages (pyarrow reader)",
                         lambda: [csv_frame(p) for p in pages])  # fmt: skip
    old_frames, t_old = _cpu("Bulk query CSV pages (pandas C reader)",
                             lambda: [reference.csv_frame(p) for p in pages])  # fmt: skip
    for got, expected in zip(frames, old_frames, strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    print(f"    speed-up {t_old / t_new:.1f}x; {len(pages)} Account pages, same frames")
    del frames, old_frames
    mapping = load_column_mapping(ROOT / "mappings" / "columns" / "metabase_usage.yaml")
    print(f"  {len(raw)} usage rows")
    new, t_new = _cpu(
        "usage column mapping (vectorised)", lambda: apply_mapping(raw, mapping, source="usage")
    )
    old, t_old = _cpu("usage column mapping (value by value)",
                      lambda: reference_columns.apply_mapping(raw, mapping, source="usage"))  # fmt: skip
    assert new.frame.equals(old.frame) and new.quarantined.equals(old.quarantined)
    print(f"    speed-up {t_old / t_new:.1f}x; {new.quarantined_count} rows quarantined by both")
    del old

    # the whole usage extract, export body to mapped frame: JSON (the old default format)
    # against CSV (the default now), and the CSV path as it was (pandas on response.text)
    def extract(decode):
        return lambda: _peak_rise(lambda: apply_mapping(decode(), mapping, source="usage"))

    def pandas_csv():
        text = csv_body.decode("utf-8")  # what response.text did
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])

    print(f"  usage extract (export decode + column mapping), {len(new.frame)} rows mapped")
    (from_json, json_rise), t_json = _cpu("JSON export: slab decode + mapping (old default)",
                                          extract(lambda: records_frame(body)))  # fmt: skip
    (from_csv, csv_rise), t_csv = _cpu("CSV export: pyarrow.csv + mapping (new default)",
                                       extract(lambda: csv_export_frame(csv_body)))  # fmt: skip
    (from_pandas, pandas_rise), t_pandas = _cpu("CSV export: pandas on the text + mapping (old)",
                                                extract(pandas_csv))  # fmt: skip
    for other in (from_csv, from_pandas):
        pd.testing.assert_frame_equal(other.frame, new.frame, check_exact=True)
        pd.testing.assert_frame_equal(other.quarantined, new.quarantined, check_exact=True)
    pd.testing.assert_frame_equal(from_json.frame, new.frame, check_exact=True)
    print(
        f"    CSV {t_json / t_csv:.1f}x faster than JSON, {t_pandas / t_csv:.1f}x than the old "
        "CSV path; same mapped frame and quarantine from all three"
    )
    if json_rise is not None:
        print(
            f"    resident peak rose by {csv_rise:.0f} MiB (CSV, Arrow) against "
            f"{json_rise:.0f} MiB (JSON) and {pandas_rise:.0f} MiB (CSV, pandas)"
        )
    del from_json, from_csv, from_pandas, new

    ids = [f"001{n:015d}" for n in range(args.accounts)]
    scores, _ = synthetic_result(ids)
    desired = scores.copy()
    desired["scored_at"] = pd.Timestamp(AS_OF)
    fields = load_mapping(ROOT / "mappings" / "account_fields.yaml")
    tz = ZoneInfo("Asia/Tokyo")
    # the org holds what the last run wrote: an unchanged night
    empty = pd.DataFrame({"Id": ids})
    first, _ = diff_records(desired, empty, fields, tz=tz)[:2]
    current = pd.DataFrame([{"Id": r.key, **r.values()} for r in first])
    (changes, *_), t_new = _cpu("unchanged-night record diff (columnar)",
                                lambda: diff_records(desired, current, fields, tz=tz))  # fmt: skip
    (changes_old, *_), t_old = _cpu("unchanged-night record diff (row by row)",
                                    lambda: reference.diff_records(desired, current, fields, tz=tz))  # fmt: skip
    assert changes == changes_old
    print(f"    speed-up {t_old / t_new:.1f}x; {len(changes)} records change (expected 0)")

    # the existing-Task read's filter: this run's Task keys among the keyed Tasks read
    keys = [f"{i}:2025-03:usage_drop" for i in ids] * 3
    read = pd.Series(keys[::2] + [None] * (args.accounts // 10), dtype="str")
    wanted = set(keys[::3])
    fast, t_new = _cpu("Task keys isin (pyarrow is_in)", lambda: isin(read, wanted))
    slow, t_old = _cpu("Task keys isin (Series.isin)", lambda: read.isin(wanted))
    pd.testing.assert_series_equal(fast, slow, check_exact=True)
    print(f"    speed-up {t_old / t_new:.1f}x; {int(fast.sum())} of {len(read)} rows kept by both")

    # the Task-building steps walk the open Tasks read from the org (Bulk CSV: text columns)
    tasks = pd.DataFrame(
        {
            "Id": pd.Series([f"00T{n:015d}" for n in range(len(read))], dtype="str"),
            "Sync_Key__c": read,
            "OwnerId": pd.Series([f"005{n % 300:015d}" for n in range(len(read))], dtype="str"),
            "Subject": pd.Series(["利用が減っています"] * len(read), dtype="str"),
            "ActivityDate": pd.Series(["2025-03-01"] * len(read), dtype="str"),
            "IsClosed": pd.Series(["false"] * len(read), dtype="str"),
            "Description": pd.Series([None] * len(read), dtype="str"),
        }
    )
    rows, t_new = _cpu("Task rows (iter_records, column-wise)", lambda: list(iter_records(tasks)))
    old_rows, t_old = _cpu("Task rows (to_dict records)", lambda: tasks.to_dict(orient="records"))
    assert repr(rows) == repr(old_rows)
    print(f"    speed-up {t_old / t_new:.1f}x; {len(rows)} Task rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
