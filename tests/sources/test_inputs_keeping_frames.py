"""After scoring, a run keeps only the input frames planning and notifying read (issue 14:
peak memory); the summary's figures do not change."""

from __future__ import annotations

import pandas as pd

from sfsync.pipeline import FRAMES_AFTER_COMPUTE
from sfsync.sources.columns import MappedFrame
from sfsync.sources.extract import Inputs


def _mapped(source: str, rows: int, quarantined: int) -> MappedFrame:
    frame = pd.DataFrame({"x": range(rows)})
    bad = pd.DataFrame({"source": [source] * quarantined, "row_ref": "r", "reason": "bad"})
    return MappedFrame(source, frame, bad, rows_read=rows + quarantined)


def test_only_the_kept_roles_frames_stay_and_the_counts_do_not_change():
    mapped = {r: _mapped(r, n, q) for r, n, q in (("accounts", 3, 0), ("users", 2, 0),
                                                   ("usage", 50, 2), ("activities", 40, 1))}  # fmt: skip
    inputs = Inputs(
        frames={r: m.frame for r, m in mapped.items()},
        quarantined=pd.concat([m.quarantined for m in mapped.values()], ignore_index=True),
        figures={"usage": {"rows": 52}},
        mapped=mapped,
    )
    kept = inputs.keeping_frames(FRAMES_AFTER_COMPUTE)
    assert set(kept.frames) == {"accounts", "users"}
    assert kept.frames["accounts"] is inputs.frames["accounts"]
    assert kept.get("usage") is None and kept.get("activities") is None
    assert (
        kept.mapped["usage"].frame.empty
        and kept.mapped["accounts"].frame is mapped["accounts"].frame
    )
    assert (
        kept.rows_read
        == inputs.rows_read
        == {"accounts": 3, "users": 2, "usage": 52, "activities": 41}
    )
    assert kept.quarantined_counts == inputs.quarantined_counts
    assert kept.figures == inputs.figures and len(kept.quarantined) == 3
    assert set(inputs.frames) == {"accounts", "users", "usage", "activities"}  # not changed


def test_the_computed_result_drops_only_the_desired_tasks_once_planned():
    from sfsync.pipeline import Computed

    fields = pd.DataFrame({"account_id": ["001"]})
    tasks = pd.DataFrame({"sync_key": ["k"], "description": ["長い説明"]})
    touch = pd.DataFrame({"account_id": ["001"], "touch_model": ["tech"]})
    computed = Computed(fields, sync_config=None, desired_tasks=tasks, touch=touch)  # type: ignore[arg-type]
    planned = computed.without_desired_tasks()
    assert planned.desired_tasks is None and computed.desired_tasks is tasks
    assert planned.desired_fields is fields and planned.touch is touch
