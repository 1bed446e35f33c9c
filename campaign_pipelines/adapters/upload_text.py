"""An upload's text: the CSV/TXT reader, and the rules every reader (uploads.py) shares for the
text of cells: which header names the IIN column, how a cell may appear in an error, the
output columns and UploadError.

Decisions:
- Text is read with every column as a string: a number parser would turn ``012345678901``
  into ``12345678901`` or ``1.2e10`` and the damage could not be undone.
- Only UTF-8 (with or without BOM) and UTF-16 with a BOM are accepted. cp1251 is not guessed:
  a wrong guess silently corrupts the header, while a clear error costs one "Save As".
- The separator is whichever of ``,`` ``;`` tab ``|`` splits the header into the most fields
  outside quotes; none of them means a single-column file.
- An error never shows cell text: every header candidate and data cell appears as its first
  character and length (an IIN-like one as mask_iin shows it), and a library's parse message
  keeps only its own words and positions. Only a header that matched an IIN column name is
  shown as written.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import polars as pl

from campaign_pipelines.core.iin import mask_iin

IIN_COLUMN_NAMES = ("iin", "иин", "client_iin")

_SEPARATORS = (",", ";", "\t", "|")
_NO_SEPARATOR = "\x1f"  # a single-column file still needs one; the unit separator never occurs
_NAME_JUNK = " \t\r\n\u00a0\ufeff\"'"
_IIN_LIKE = re.compile(r"^[0-9]{9,12}(\.0)?$")
_NON_BLANK = re.compile(rb"\S")
_SAVE_AS_UTF8 = 'open it in Excel and use "Save As" → "CSV UTF-8 (Comma delimited) (*.csv)"'
_MAX_LISTED_COLUMNS = 20


class UploadError(ValueError):
    """Bad upload: names the file, where (row/column/byte) and the fix."""

    def __init__(self, file: str, problem: str, fix: str):
        self.file = file
        self.problem = problem
        self.fix = fix
        super().__init__(f"{file}: {problem}. Fix: {fix}")


def no_rows(file: str) -> UploadError:
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


def iin_column(file: str, names: list[str | None], headerless_ok: bool = True) -> int | None:
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


def scrubbed(error: Exception) -> str:
    """A library's message without the cell text it may quote: quoted spans go, long digit
    runs (IINs, phone numbers) are masked; its words and positions stay."""
    first = (str(error).strip().splitlines() or ["no detail"])[0]
    first = re.sub(r"`[^`]*`?|\"[^\"]*\"?|'[^']*'?", "…", first)
    return re.sub(r"\+?[0-9]{9,}", lambda m: mask_iin(m.group()), first)


def output_columns(raw: pl.Expr, row: pl.Expr) -> list[pl.Expr]:
    """The two output columns; an empty string is an empty cell too."""
    return [
        pl.when(raw != "").then(raw).cast(pl.String).alias("raw_iin"),
        row.cast(pl.Int64).alias("row"),
    ]


def read_text(path: Path) -> pl.DataFrame:
    """A CSV/TXT upload as read_upload returns it."""
    data = utf8_bytes(path.name, path.read_bytes())
    if b"\n" not in data:  # classic Mac line ends; polars knows only \n and \r\n
        data = data.replace(b"\r", b"\n")
    first = _NON_BLANK.search(data)
    if first is None:
        raise no_rows(path.name)
    start = data.rfind(b"\n", 0, first.start()) + 1
    lines_before = data.count(b"\n", 0, start)
    end = data.find(b"\n", start)
    header = data[start : None if end < 0 else end].decode().strip("\r\n")
    if start:
        data = data[start:]
    separator = sniff_separator(header)
    names = next(csv.reader([header], delimiter=separator or _NO_SEPARATOR))
    index = iin_column(path.name, names)
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
    frame = frame.select(output_columns(pl.nth(1), pl.col("row")))
    if separator is None:
        return frame.filter(pl.col("raw_iin").is_not_null())
    if frame["raw_iin"].null_count() == 0:
        return frame
    # Only now is it worth parsing every column: to tell a blank row from an empty IIN cell.
    everything = _csv(path.name, data, truncate_ragged_lines=True, **read)
    cells = pl.all().exclude("row")
    blank = everything.filter(pl.all_horizontal(cells.is_null() | (cells == "")))["row"]
    return frame.filter(~pl.col("row").is_in(blank.cast(pl.Int64).implode()))


def utf8_bytes(file: str, raw: bytes) -> bytes:
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
            f"could not be read as {shown} text ({scrubbed(error)})",
            f"check the quotes around fields that contain the separator, or {_SAVE_AS_UTF8}",
        ) from error


def sniff_separator(header: str) -> str | None:
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
