"""File source: CSV and Parquet files for backfills and audits.

CSV cells are read as text (an empty cell is a missing value) so that the column mapping does
the typing and reports bad cells row by row; Parquet keeps its own types. Row numbers in
quarantine reasons are data rows (row 1 = the first line after the header).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import structlog

from sfsync.errors import SourceError

log = structlog.get_logger(__name__)

FORMATS = ("csv", "parquet")


def detect_format(path: Path, declared: str | None = None) -> str:
    """The file format: ``declared`` if given, else from the suffix (.csv, .parquet/.pq)."""
    if declared:
        return declared
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise SourceError(
        f"{path}: cannot tell the file format from the suffix {suffix!r}",
        hint="use a .csv or .parquet file, or set format: csv|parquet in the job",
    )


def read_file(
    path: str | Path,
    *,
    file_format: str | None = None,
    columns: list[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a CSV or Parquet file into a raw frame (CSV: every cell as text).

    ``columns`` limits a Parquet read to those columns when they exist (CSV reads all).
    """
    path = Path(path)
    kind = detect_format(path, file_format)
    if not path.exists():
        raise SourceError(f"{path}: file not found", hint="check the path in the job YAML")
    try:
        if kind == "csv":
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                sep=delimiter,
                encoding=encoding,
            )
        else:
            available = pq.read_schema(path).names
            wanted = [c for c in columns if c in available] if columns else None
            frame = pd.read_parquet(path, columns=wanted)
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise SourceError(f"{path}: cannot read the {kind} file: {exc}") from None
    log.info("file_read", path=str(path), format=kind, rows=len(frame))
    return frame
