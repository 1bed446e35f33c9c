r"""Reading the customer lists bank staff upload (CSV/TXT, XLSX, Parquet) into raw IIN text.

Only the IIN column is returned, as the cell text exactly as given (cleaning, zero restoring
and check digits are core's job, see ``core/iin.py``), together with the row number a person
sees when they open the file, so that every rejected IIN can be pointed at. Text files are read
by ``upload_text.py``, which also holds the rules every reader shares (the IIN column's names,
cells masked in every error); an XLSX sheet is checked by ``xlsx_checks.py`` (formulas in the
IIN column, hidden rows, a hidden first sheet).

Decisions:
- Row numbers are record numbers with the header as row 1 (data starts at row 2; row 1 when a
  single-column file has no header). Blank lines before the header are counted. Blank lines
  and blank rows (every cell empty) are dropped but keep their number, so the numbers match a
  text editor and Excel, except after a quoted field that spans lines (one record, one row).
  Parquet has no visible header, so its rows are numbered as its CSV export would be (from 2).
- A row whose IIN cell alone is empty is kept with a null ``raw_iin``: core counts it.
- Digits are ASCII ``[0-9]`` in every pattern (Python's ``\d`` also matches full-width and
  Arabic-Indic digits); values are returned as written and core/iin.py rejects such digits.
- A Parquet IIN column must hold text or numbers; a list, struct, boolean or date is refused.
- ``upload_path`` is how a named upload is found: a plain name inside landing/uploads, a
  regular file, reached by symlinks only while they stay inside the folder (an object store
  has no symlinks); ``read_upload`` reads a local file: an object is read through
  ``storage_for(path).local_copy(path)``.
"""

from __future__ import annotations

from pathlib import Path

import fastexcel
import polars as pl

from campaign_pipelines.adapters.storage import as_path, is_local
from campaign_pipelines.adapters.upload_text import (
    IIN_COLUMN_NAMES as IIN_COLUMN_NAMES,  # re-exported: part of what uploads.py offers
)
from campaign_pipelines.adapters.upload_text import (
    UploadError,
    iin_column,
    no_rows,
    output_columns,
    read_text,
    scrubbed,
)
from campaign_pipelines.adapters.xlsx_checks import check_first_sheet

TEXT_SUFFIXES = (".csv", ".txt")
ACCEPTED_SUFFIXES = (*TEXT_SUFFIXES, ".xlsx", ".parquet")

_MAX_LISTED_NAMES = 20


def upload_path(uploads_dir: Path, name: str) -> Path:
    """The upload ``name`` inside ``uploads_dir``, or UploadError saying why it cannot be read:
    missing (naming what is there), not a plain name, not a regular file, or reached through a
    symlink that leads outside the folder."""
    uploads_dir = as_path(uploads_dir)
    if not name or Path(name).name != name or name in (".", ".."):
        fix = "name a file directly inside landing/uploads, without folders"
        raise UploadError(name or "(no name)", "is not a plain file name", fix)
    path = uploads_dir / name
    if not path.exists():  # a dangling or looping symlink is missing too
        names = sorted(
            p.name for p in uploads_dir.glob("*") if p.is_file() and not p.name.startswith(".")
        )
        shown = ", ".join(names[:_MAX_LISTED_NAMES]) or "none"
        if len(names) > _MAX_LISTED_NAMES:
            shown += f" and {len(names) - _MAX_LISTED_NAMES} more"
        raise UploadError(
            name, f"is not in {uploads_dir}", f"upload the file first, or use one of: {shown}"
        )
    if is_local(path) and not path.resolve().is_relative_to(uploads_dir.resolve()):
        raise UploadError(
            name,
            f"leads outside {uploads_dir} (a symlink)",
            "symlinks pointing outside landing/uploads are refused: copy the file in",
        )
    if not path.is_file():
        fix = "upload the list itself as one .csv, .txt, .xlsx or .parquet file"
        raise UploadError(name, "is not a regular file (a folder or a device)", fix)
    return path


def read_upload(path: Path) -> pl.DataFrame:
    """Columns: raw_iin (pl.String, the cell text as given; null for an empty cell) and
    row (pl.Int64, the 1-based row number a person sees in Excel / a text editor, header = row 1).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        frame = read_text(path)
    elif suffix == ".xlsx":
        frame = _read_xlsx(path)
    elif suffix == ".parquet":
        frame = _read_parquet(path)
    else:
        raise UploadError(
            path.name,
            f'has the extension "{path.suffix or "(none)"}", which is not accepted',
            f"upload the list as one of {', '.join(ACCEPTED_SUFFIXES)}",
        )
    if frame.is_empty():
        raise no_rows(path.name)
    return frame


def _read_xlsx(path: Path) -> pl.DataFrame:
    """First worksheet, every cell as text: fastexcel writes number cells as integer digits
    (12345678901.0 → "12345678901", no exponent), checked by the tests."""
    try:
        # header_row=None with skip_rows=0 keeps leading empty rows: index + 1 = Excel row.
        sheet = fastexcel.read_excel(path).load_sheet(
            0, header_row=None, skip_rows=0, dtypes="string"
        )
        frame = sheet.to_polars()
    except (fastexcel.FastExcelError, pl.exceptions.PolarsError, OSError) as error:
        raise UploadError(
            path.name,
            f"is not a readable .xlsx workbook ({scrubbed(error)})",
            "open it in Excel, remove any password and save it again as .xlsx",
        ) from error
    cells = pl.all().exclude("row")
    rows = frame.with_row_index("row", offset=1).filter(
        ~pl.all_horizontal(cells.is_null() | (cells.str.strip_chars() == ""))
    )
    if rows.is_empty():
        raise no_rows(path.name)
    names = list(rows.row(0))[1:]
    index = iin_column(path.name, names)
    check_first_sheet(path, sheet, index or 0)
    body = rows if index is None else rows.slice(1)
    return body.select(output_columns(pl.nth((index or 0) + 1), pl.col("row")))


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        schema = pl.read_parquet_schema(path)
        # A Parquet column always has a name: a lone IIN-like one is not a headerless list.
        name = list(schema)[iin_column(path.name, list(schema), headerless_ok=False) or 0]
        _refuse_non_scalar(path.name, name, schema[name])
        column = pl.read_parquet(path, columns=[name]).to_series()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise UploadError(
            path.name, f"is not a readable Parquet file ({scrubbed(error)})", "export it again"
        ) from error
    return pl.DataFrame({"raw_iin": column}).select(
        output_columns(_digits(pl.col("raw_iin"), column.dtype), pl.int_range(2, pl.len() + 2))
    )


def _refuse_non_scalar(file: str, name: str, dtype: pl.DataType) -> None:
    if dtype.is_numeric() or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return
    raise UploadError(
        file,
        f'has the IIN column "{name}" of type {dtype}, which holds no IIN per row',
        "store one IIN per row, as text (12 digits) or as an integer, and export again",
    )


def _digits(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Numbers as plain digit strings: whole floats lose their ``.0``, nothing goes exponent."""
    if dtype.is_float():
        whole = value.is_finite() & (value == value.floor()) & (value.abs() < 1e15)
        return (
            pl.when(whole)
            .then(value.cast(pl.Int64).cast(pl.String))
            .otherwise(value.cast(pl.String))
        )
    return value.cast(pl.String)
