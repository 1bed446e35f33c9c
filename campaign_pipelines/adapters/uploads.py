r"""Reading the customer lists bank staff upload (CSV/TXT, XLSX, Parquet) into raw IIN text.

Only the IIN column is returned, as the cell text exactly as given (cleaning, zero restoring
and check digits are core's job, see ``core/iin.py``), together with the row number a person
sees when they open the file, so that every rejected IIN can be pointed at.

Decisions:
- Text is read with every column as a string: a number parser would turn ``012345678901``
  into ``12345678901`` or ``1.2e10`` and the damage could not be undone.
- Only UTF-8 (with or without BOM) and UTF-16 with a BOM are accepted. cp1251 is not guessed:
  a wrong guess silently corrupts the header, while a clear error costs one "Save As".
- Row numbers are record numbers with the header as row 1 (data starts at row 2; row 1 when a
  single-column file has no header). Blank lines before the header are counted. Blank lines
  and blank rows (every cell empty) are dropped but keep their number, so the numbers match a
  text editor and Excel, except after a quoted field that spans lines (one record, one row).
  Parquet has no visible header, so its rows are numbered as its CSV export would be (from 2).
- A row whose IIN cell alone is empty is kept with a null ``raw_iin``: core counts it.
- Digits are ASCII ``[0-9]`` in every pattern (Python's ``\d`` also matches full-width and
  Arabic-Indic digits); values are returned as written and core/iin.py rejects such digits.
- An error never shows cell text: every header candidate and data cell appears as its first
  character and length (an IIN-like one as mask_iin shows it), and a library's parse message
  keeps only its own words and positions. Only a header that matched an IIN column name is
  shown as written.
- A Parquet IIN column must hold text or numbers; a list, struct, boolean or date is refused.
- XLSX: a formula cell in the IIN column is refused, cached value or not: a program that
  writes a workbook may cache 0, and Excel's cache may be stale. Hidden rows that hold cells
  (filtered out by an AutoFilter, or hidden by hand) are refused too: deploying them would
  reach people whoever prepared the list could not see, and dropping them silently would lose
  people they may want; unhiding or deleting them is their call. A hidden first sheet is
  refused for the same reason. Formulas and hidden rows are found by scanning the first
  sheet's XML in the .xlsx zip in chunks with byte patterns: about 0.5 s for a million rows,
  a third of what reading the cells takes.
- ``upload_path`` is how a named upload is found: a plain name inside landing/uploads, a
  regular file, reached by symlinks only while they stay inside the folder.
"""

from __future__ import annotations

import codecs
import csv
import posixpath
import re
import zipfile
from pathlib import Path

import fastexcel
import polars as pl

from campaign_pipelines.core.iin import mask_iin

IIN_COLUMN_NAMES = ("iin", "иин", "client_iin")
TEXT_SUFFIXES = (".csv", ".txt")
ACCEPTED_SUFFIXES = (*TEXT_SUFFIXES, ".xlsx", ".parquet")

_SEPARATORS = (",", ";", "\t", "|")
_NO_SEPARATOR = "\x1f"  # a single-column file still needs one; the unit separator never occurs
_NAME_JUNK = " \t\r\n\u00a0\ufeff\"'"
_IIN_LIKE = re.compile(r"^[0-9]{9,12}(\.0)?$")
_NON_BLANK = re.compile(rb"\S")
_SAVE_AS_UTF8 = 'open it in Excel and use "Save As" → "CSV UTF-8 (Comma delimited) (*.csv)"'
_MAX_LISTED_COLUMNS = 20
_MAX_LISTED_NAMES = 20
_MAX_LISTED_CELLS = 10


class UploadError(ValueError):
    """Bad upload: names the file, where (row/column/byte) and the fix."""

    def __init__(self, file: str, problem: str, fix: str):
        self.file = file
        self.problem = problem
        self.fix = fix
        super().__init__(f"{file}: {problem}. Fix: {fix}")


def upload_path(uploads_dir: Path, name: str) -> Path:
    """The upload ``name`` inside ``uploads_dir``, or UploadError saying why it cannot be read:
    missing (naming what is there), not a plain name, not a regular file, or reached through a
    symlink that leads outside the folder."""
    uploads_dir = Path(uploads_dir)
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
    if not path.resolve().is_relative_to(uploads_dir.resolve()):
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
        frame = _read_text(path)
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
        raise _no_rows(path.name)
    return frame


def _no_rows(file: str) -> UploadError:
    return UploadError(
        file, "has no rows", "put one IIN per row under a header such as iin, then upload again"
    )


def _normal_name(name: str | None) -> str:
    return (name or "").strip(_NAME_JUNK).casefold()


def _looks_like_iin(cell: str | None) -> bool:
    return bool(_IIN_LIKE.match(re.sub(r"[\s\-]", "", (cell or "").strip(_NAME_JUNK))))


def _masked_cell(cell: str) -> str:
    """An IIN as mask_iin shows it; any other data cell as its first character and length."""
    if _looks_like_iin(cell):
        return mask_iin(cell)
    text = cell.strip()
    return f"{text[:1]}*** ({len(text)} chars)" if text else ""


def _iin_column(file: str, names: list[str | None], headerless_ok: bool = True) -> int | None:
    """Index of the IIN column, or None when a lone column holds IINs without a header."""
    matches = [i for i, name in enumerate(names) if _normal_name(name) in IIN_COLUMN_NAMES]
    if len(matches) == 1:
        return matches[0]
    if matches:
        found = " and ".join(f'"{names[i]}" (column {i + 1})' for i in matches)
        raise UploadError(
            file,
            f"has more than one IIN column: {found}",
            "keep one IIN column and rename the other",
        )
    if headerless_ok and len(names) == 1 and _looks_like_iin(names[0]):
        return None
    # The first row may be data (a name, phone, email or IIN), not a header: errors end up in
    # logs and the UI, so every cell of it is masked.
    first_row_is_data = any(_looks_like_iin(name) for name in names)
    shown = [f'"{_masked_cell(name)}"' for name in names[:_MAX_LISTED_COLUMNS] if name is not None]
    if len(names) > _MAX_LISTED_COLUMNS:
        shown.append(f"and {len(names) - _MAX_LISTED_COLUMNS} more")
    raise UploadError(
        file,
        f"has no IIN column; columns found: {', '.join(shown) or '(none)'}",
        ("add a header row above the data and " if first_row_is_data else "")
        + f"name the column that holds the IINs one of {', '.join(IIN_COLUMN_NAMES)} (any case)",
    )


def _scrubbed(error: Exception) -> str:
    """A library's message without the cell text it may quote: quoted spans go, long digit
    runs (IINs, phone numbers) are masked; its words and positions stay."""
    first = (str(error).strip().splitlines() or ["no detail"])[0]
    first = re.sub(r"`[^`]*`?|\"[^\"]*\"?|'[^']*'?", "…", first)
    return re.sub(r"\+?[0-9]{9,}", lambda m: mask_iin(m.group()), first)


def _finish(raw: pl.Expr, row: pl.Expr) -> list[pl.Expr]:
    """The two output columns; an empty string is an empty cell too."""
    return [
        pl.when(raw != "").then(raw).cast(pl.String).alias("raw_iin"),
        row.cast(pl.Int64).alias("row"),
    ]


# --- text ---------------------------------------------------------------------------------


def _read_text(path: Path) -> pl.DataFrame:
    data = _utf8(path.name, path.read_bytes())
    if b"\n" not in data:  # classic Mac line ends; polars knows only \n and \r\n
        data = data.replace(b"\r", b"\n")
    first = _NON_BLANK.search(data)
    if first is None:
        raise _no_rows(path.name)
    start = data.rfind(b"\n", 0, first.start()) + 1
    lines_before = data.count(b"\n", 0, start)
    end = data.find(b"\n", start)
    header = data[start : None if end < 0 else end].decode().strip("\r\n")
    if start:
        data = data[start:]
    separator = _sniff_separator(header)
    names = next(csv.reader([header], delimiter=separator or _NO_SEPARATOR))
    index = _iin_column(path.name, names)
    has_header = index is not None
    offset = lines_before + (2 if has_header else 1)
    read = {
        "separator": separator or _NO_SEPARATOR,
        "has_header": has_header,
        "infer_schema": False,
        "row_index_name": "row",
        "row_index_offset": offset,
        "raise_if_empty": False,
    }
    frame = _csv(path.name, data, columns=[index or 0], **read)
    frame = frame.select(_finish(pl.nth(1), pl.col("row")))
    if separator is None:
        return frame.filter(pl.col("raw_iin").is_not_null())
    if frame["raw_iin"].null_count() == 0:
        return frame
    # Only now is it worth parsing every column: to tell a blank row from an empty IIN cell.
    everything = _csv(path.name, data, truncate_ragged_lines=True, **read)
    cells = pl.all().exclude("row")
    blank = everything.filter(pl.all_horizontal(cells.is_null() | (cells == "")))["row"]
    return frame.filter(~pl.col("row").is_in(blank.cast(pl.Int64).implode()))


def _utf8(file: str, raw: bytes) -> bytes:
    """The file as UTF-8 bytes (any UTF-8 BOM kept), or an error a person can act on."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as error:
            prefix = raw[: error.start].decode("utf-16", errors="replace")
            raise _undecodable(file, raw, error.start, prefix.count("\n") + 1, "UTF-16") from None
    else:
        if raw.startswith(b"PK\x03\x04"):
            raise UploadError(
                file, "is an Excel workbook with a text-file name", "rename it to .xlsx"
            )
        if raw.startswith(b"\xd0\xcf\x11\xe0"):
            raise UploadError(file, "is an old Excel .xls workbook", f"{_SAVE_AS_UTF8} or .xlsx")
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                line = raw.count(b"\n", 0, error.start) + 1
                raise _undecodable(file, raw, error.start, line, "UTF-8") from None
        data = raw
    if b"\x00" in data:
        position = data.index(b"\x00")
        raise UploadError(
            file,
            f"contains a NUL byte at byte offset {position}: it is UTF-16 without a byte-order "
            "mark or not a text file",
            _SAVE_AS_UTF8,
        )
    return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data


def _undecodable(file: str, raw: bytes, offset: int, line: int, encoding: str) -> UploadError:
    guess = "; it was probably saved as Windows-1251/ANSI" if encoding == "UTF-8" else ""
    return UploadError(
        file,
        f"is not {encoding} text: the byte 0x{raw[offset]:02X} at byte offset {offset} "
        f"(line {line}) is invalid{guess}",
        _SAVE_AS_UTF8,
    )


def _csv(file: str, data: bytes, **options) -> pl.DataFrame:
    try:
        return pl.read_csv(data, **options)
    except pl.exceptions.PolarsError as error:
        separator = options["separator"]
        shown = {_NO_SEPARATOR: "one-column", "\t": "tab-separated"}.get(
            separator, f'"{separator}"-separated'
        )
        raise UploadError(
            file,
            f"could not be read as {shown} text ({_scrubbed(error)})",
            f"check the quotes around fields that contain the separator, or {_SAVE_AS_UTF8}",
        ) from error


def _sniff_separator(header: str) -> str | None:
    """The separator that splits the header into the most fields (None: one column)."""
    counts = dict.fromkeys(_SEPARATORS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_SEPARATORS, key=counts.__getitem__)
    return best if counts[best] else None


# --- xlsx and parquet ---------------------------------------------------------------------


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
            f"is not a readable .xlsx workbook ({_scrubbed(error)})",
            "open it in Excel, remove any password and save it again as .xlsx",
        ) from error
    cells = pl.all().exclude("row")
    rows = frame.with_row_index("row", offset=1).filter(
        ~pl.all_horizontal(cells.is_null() | (cells.str.strip_chars() == ""))
    )
    if rows.is_empty():
        raise _no_rows(path.name)
    names = list(rows.row(0))[1:]
    index = _iin_column(path.name, names)
    if sheet.visible != "visible":  # Excel opens on another sheet: nobody would see this one
        fix = "unhide the first sheet, or move the list to the first sheet and delete this one"
        raise UploadError(path.name, "has its first sheet, the one read, hidden", fix)
    # The frame starts at the first used column; the sheet's XML names cells by Excel column.
    _refuse_formulas_and_hidden_rows(path, sheet.selected_columns[index or 0].absolute_index)
    body = rows if index is None else rows.slice(1)
    return body.select(_finish(pl.nth((index or 0) + 1), pl.col("row")))


_ROW_REF = re.compile(rb'\sr="([0-9]+)"')
_HIDDEN = re.compile(rb'hidden="(?:1|true)"')  # a literal first: searched as fast as a find
_CHUNK = 1 << 22


class _Found:
    """The first few places of one kind, and how many there are."""

    def __init__(self, what: str):
        self.what, self.first, self.count = what, [], 0

    def add(self, place: str) -> None:
        self.count += 1
        if len(self.first) < _MAX_LISTED_CELLS:
            self.first.append(place)

    def __str__(self) -> str:
        more = self.count - len(self.first)
        return f"{self.what} {', '.join(self.first)}" + (f" and {more} more" if more else "")


def _refuse_formulas_and_hidden_rows(path: Path, column: int) -> None:
    try:
        formulas, hidden = _sheet_marks(path, column)
    except (KeyError, zipfile.BadZipFile, OSError) as error:
        raise UploadError(
            path.name,
            f"could not be checked for formulas and hidden rows ({_scrubbed(error)})",
            "open it in Excel and save it again as .xlsx",
        ) from error
    if formulas.count:
        raise UploadError(
            path.name,
            f"has formulas in its IIN column ({formulas}): a formula cell holds whatever was "
            "last computed, and a generated workbook may hold 0",
            "select the IIN column, copy it and paste as values (Paste Special → Values), "
            "then upload again",
        )
    if hidden.count:
        raise UploadError(
            path.name,
            f"has hidden {hidden} (hidden by hand or by a filter): they would be deployed "
            "although nobody sees them",
            "unhide them (clear the filter) to include them, or delete them to exclude them, "
            "then upload again",
        )


def _sheet_marks(path: Path, column: int) -> tuple[_Found, _Found]:
    """Formula cells of ``column`` (0-based) and hidden rows holding cells, from the first
    sheet's XML read in chunks. Both patterns start with a literal (``r="A``, ``hidden=``), which
    the regex engine scans for as fast as a find. Each chunk is cut where its last row starts,
    so every cell and row before the cut is whole; the rest is searched with the next chunk."""
    formulas, hidden = _Found("cells"), _Found("rows")
    with zipfile.ZipFile(path) as book, book.open(_first_sheet(book)) as xml:
        buffer, done, prefix = b"", False, None
        while not done:
            chunk = xml.read(_CHUNK)
            done = not chunk
            buffer += chunk
            if prefix is None:  # some writers qualify every element, e.g. <x:c>, <x:f>
                root = re.search(rb"<(\w+:)?worksheet\b", buffer)
                prefix = b"<" + (root.group(1) or b"" if root else b"")
                cell = b'r="(' + _column_letters(column) + rb'[0-9]+)"[^>]*>\s*'
                formula = re.compile(cell + re.escape(prefix) + rb"f[\s>/]")
            cut = len(buffer) if done else max(buffer.rfind(prefix + b"row"), 0)
            for match in formula.finditer(buffer, 0, cut):
                formulas.add(match.group(1).decode())
            for match in _HIDDEN.finditer(buffer, 0, cut):
                tag = buffer[buffer.rfind(b"<", 0, match.start()) : buffer.find(b">", match.end())]
                if tag.startswith(prefix + b"row") and not tag.endswith(b"/"):  # <row/>: empty
                    number = _ROW_REF.search(tag)
                    hidden.add(number.group(1).decode() if number else "(unnumbered)")
            buffer = buffer[cut:]
    return formulas, hidden


def _first_sheet(book: zipfile.ZipFile) -> str:
    """The zip member of the workbook's first sheet, the one calamine reads as sheet 0."""
    workbook = book.read("xl/workbook.xml")
    rel = re.search(rb'<(?:\w+:)?sheet\b[^>]*?\s\w+:id="([^"]+)"', workbook)
    rels = book.read("xl/_rels/workbook.xml.rels")
    for element in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        attributes = dict(re.findall(rb'(\w+)="([^"]*)"', element.group()))
        if rel and attributes.get(b"Id") == rel.group(1):
            target = attributes.get(b"Target", b"").decode()
            absolute = target.startswith("/")
            return target[1:] if absolute else posixpath.normpath(f"xl/{target}")
    raise KeyError("the first sheet of xl/workbook.xml")


def _column_letters(index: int) -> bytes:
    """Excel's name of a 0-based column: 0 → A, 25 → Z, 26 → AA."""
    letters = b""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = bytes([ord("A") + remainder]) + letters
    return letters


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        schema = pl.read_parquet_schema(path)
        # A Parquet column always has a name: a lone IIN-like one is not a headerless list.
        name = list(schema)[_iin_column(path.name, list(schema), headerless_ok=False) or 0]
        _refuse_non_scalar(path.name, name, schema[name])
        column = pl.read_parquet(path, columns=[name]).to_series()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise UploadError(
            path.name, f"is not a readable Parquet file ({_scrubbed(error)})", "export it again"
        ) from error
    return pl.DataFrame({"raw_iin": column}).select(
        _finish(_digits(pl.col("raw_iin"), column.dtype), pl.int_range(2, pl.len() + 2))
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
