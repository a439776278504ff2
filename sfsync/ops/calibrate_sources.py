"""Where calibration reads the inputs' values: the sources of the job that scores with the
scorecard, read as of each snapshot date the way the backfill read them.

:func:`scoring_job` finds that job in ``jobs/``; :func:`frames_reader` turns an opened run of
it into the ``read`` callable of :func:`sfsync.ops.calibrate_inputs.observation_inputs`: each
call reads the job's accounts, activities and usage sources (with its content log) with their
parameters bound to the date and maps them to canonical frames. Nothing is written (bad rows
are left out, not stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import structlog

from sfsync.errors import ConfigError, SfsyncError
from sfsync.jobs import ScoreCompute, load_job
from sfsync.ops.calibrate_inputs import InputFrames, ReadFrames
from sfsync.pipeline import empty_activities, empty_usage
from sfsync.run_context import Run
from sfsync.sources.extract import Readers, SourceRun, extract

log = structlog.get_logger(__name__)

ROLES = ("accounts", "activities", "usage")  # what the inputs are computed from
NO_INPUTS_HINT = "or pass --no-inputs to calibrate from the stored points only"


@contextmanager
def suggesting_no_inputs() -> Iterator[None]:
    """An sfsync error raised inside (the job's clients or sources failing) also says that
    calibration can do without the sources."""
    try:
        yield
    except SfsyncError as exc:
        exc.hint = f"{exc.hint}; {NO_INPUTS_HINT}" if exc.hint else NO_INPUTS_HINT
        raise


def scoring_job(jobs_dir: Path, scorecard: str) -> str | None:
    """The first job (by name) in ``jobs_dir`` whose default scorecard is ``scorecard`` (the
    one its snapshots are stored under); None when there is none. Job files that do not load
    are skipped: `sfsync validate` reports them."""
    for path in sorted(Path(jobs_dir).glob("*.yaml")):
        try:
            job = load_job(Path(jobs_dir), path.stem)
        except ConfigError:
            continue
        if isinstance(job.compute, ScoreCompute) and job.compute.scorecard == scorecard:
            return path.stem
    return None


def frames_reader(run: Run) -> ReadFrames:
    """Read ``run``'s job as of a date: its accounts, activities and usage, canonical."""
    bundle, clients = run.bundle, run.clients
    sources = {r: s for r, s in bundle.job.sources.items() if r in ROLES}
    job = bundle.job.model_copy(update={"sources": sources})
    readers = Readers(clients.salesforce, clients.metabase)

    def read(as_of: date) -> InputFrames:
        with suggesting_no_inputs():
            inputs = extract(
                job,
                bundle.column_mappings,
                readers,
                SourceRun(
                    as_of=as_of,
                    root=bundle.root,
                    bulk_threshold=bundle.bulk_threshold,
                    env=run.request.env,
                ),
            )
        log.info("calibration_inputs_read", as_of=as_of.isoformat(), rows=inputs.rows_read)
        usage, activities = inputs.get("usage"), inputs.get("activities")
        return InputFrames(
            inputs.frames["accounts"],
            usage if usage is not None else empty_usage(),
            activities if activities is not None else empty_activities(),
        )

    return read
