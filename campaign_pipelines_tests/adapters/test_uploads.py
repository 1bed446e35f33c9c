"""read_upload against real, ugly files written into tmp_path."""

from __future__ import annotations

import codecs
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from campaign_pipelines.adapters.uploads import UploadError, read_upload


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def rows(path: Path) -> list[tuple[str | None, int]]:
    frame = read_upload(path)
    assert frame.schema == pl.Schema({"raw_iin": pl.String, "row": pl.Int64})
    return frame.rows()


def refused(path: Path) -> UploadError:
    with pytest.raises(UploadError) as caught:
        read_upload(path)
    assert caught.value.file == path.name
    return caught.value


def xlsx(tmp_path: Path, sheet: list[list], name: str = "list.xlsx", first_row: int = 0) -> Path:
    """Numbers via write_number (as Excel stores them, zeros lost), text via write_string."""
    path = tmp_path / name
    book = xlsxwriter.Workbook(path)
    ws = book.add_worksheet("customers")
    for r, values in enumerate(sheet, start=first_row):
        for c, value in enumerate(values):
            if isinstance(value, str):
                ws.write_string(r, c, value)
            elif value is not None:
                ws.write_number(r, c, value)
    book.add_worksheet("other").write_string(0, 0, "iin")  # only the first sheet counts
    book.close()
    return path


# --- text: separators, encodings, headers ---------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_csv_separator_is_sniffed_from_the_header(tmp_path, sep):
    text = f"name{sep}iin{sep}city\nAsel{sep}012345678901{sep}Almaty\nBek{sep}98765{sep}Shymkent\n"
    assert rows(write(tmp_path, "list.csv", text)) == [("012345678901", 2), ("98765", 3)]


def test_quoted_fields_may_contain_the_separator(tmp_path):
    text = 'name,iin\n"Ivanov, Ivan",012345678901\n"Sarsen ""Jr""",123456789012\n'
    assert rows(write(tmp_path, "list.csv", text)) == [("012345678901", 2), ("123456789012", 3)]


def test_utf8_bom_is_ignored(tmp_path):
    path = write(tmp_path, "list.csv", codecs.BOM_UTF8 + "iin;Имя\n012345678901;Асель\n".encode())
    assert rows(path) == [("012345678901", 2)]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_read(tmp_path, codec):
    """Excel's "Unicode text": UTF-16 with a BOM, tab-separated."""
    text = "\ufeffФИО\tИИН\nАсель Нурлановна\t012345678901\n"
    assert rows(write(tmp_path, "list.txt", text.encode(codec))) == [("012345678901", 2)]


def test_cp1251_is_refused_naming_the_byte_line_and_fix(tmp_path):
    path = write(tmp_path, "list.csv", "iin;name\n012345678901;Иван\n".encode("cp1251"))
    error = refused(path)
    assert "byte offset 22" in error.problem and "line 2" in error.problem
    assert "CSV UTF-8" in error.fix
    assert str(error) == f"list.csv: {error.problem}. Fix: {error.fix}"


def test_utf16_without_bom_is_refused(tmp_path):
    error = refused(write(tmp_path, "list.csv", "iin\n012345678901\n".encode("utf-16-le")))
    assert "NUL byte" in error.problem and "CSV UTF-8" in error.fix


def test_workbook_saved_under_a_csv_name_is_refused(tmp_path):
    path = xlsx(tmp_path, [["iin"], ["012345678901"]]).rename(tmp_path / "list.csv")
    assert "rename it to .xlsx" in refused(path).fix


@pytest.mark.parametrize("header", ["ИИН", " iin ", '"Client_IIN"', "IIN", "иин"])
def test_iin_header_matched_case_blanks_and_quotes_aside(tmp_path, header):
    path = write(tmp_path, "list.csv", f"name;{header}\nAsel;012345678901\n")
    assert rows(path) == [("012345678901", 2)]


def test_spaces_and_dashes_in_values_are_kept_raw(tmp_path):
    text = 'iin,x\n 0123-4567 8901 ,a\n"012 345 678 901",b\n12345678901.0,c\n'
    expected = [(" 0123-4567 8901 ", 2), ("012 345 678 901", 3), ("12345678901.0", 4)]
    assert rows(write(tmp_path, "list.csv", text)) == expected


def test_single_column_without_header_starts_at_row_1(tmp_path):
    text = "012345678901\n 1234-5678-9012\n12345678901.0\n"
    expected = [("012345678901", 1), (" 1234-5678-9012", 2), ("12345678901.0", 3)]
    assert rows(write(tmp_path, "list.txt", text)) == expected


def test_single_column_with_header_is_not_headerless(tmp_path):
    assert rows(write(tmp_path, "list.csv", "iin\n012345678901\n")) == [("012345678901", 2)]


def test_missing_iin_column_lists_the_columns_found(tmp_path):
    error = refused(write(tmp_path, "list.csv", "name;phone\nAsel;+77011234567\n"))
    assert '"n*** (4 chars)", "p*** (5 chars)"' in error.problem  # a header may be data
    assert all(name in error.fix for name in ("iin", "иин", "client_iin"))


def test_headerless_multi_column_file_asks_for_a_header_and_masks_every_cell(tmp_path):
    data = "012345678901;Asel;+77011234567;asel@mail.kz\n123456789012;Bek;+77020000000;b@b.kz\n"
    error = refused(write(tmp_path, "list.csv", data))
    for personal in ("012345678901", "Asel", "+77011234567", "asel@mail.kz"):
        assert personal not in str(error)
    assert '"01********01", "A*** (4 chars)", "+*** (12 chars)"' in error.problem
    assert error.fix.startswith("add a header row")


def test_lone_column_that_is_not_iin_like_is_not_guessed(tmp_path):
    error = refused(write(tmp_path, "list.csv", "phone\n123456789012\n"))
    assert '"p*** (5 chars)"' in error.problem


def test_two_iin_columns_are_refused_naming_both(tmp_path):
    error = refused(write(tmp_path, "list.csv", "iin,name,ИИН\n1,a,2\n"))
    assert '"iin" (column 1)' in error.problem and '"ИИН" (column 3)' in error.problem


@pytest.mark.parametrize(
    "data",
    [b"", codecs.BOM_UTF8, b"\n\n \r\n", b"iin\n", b"iin\n\n\n", codecs.BOM_UTF16_LE],
    ids=["zero-bytes", "bom-only", "blank-lines", "header-only", "header-blank", "utf16-bom"],
)
def test_empty_files_have_no_rows(tmp_path, data):
    assert refused(write(tmp_path, "list.csv", data)).problem == "has no rows"


# --- text: row numbers and empty cells ------------------------------------------------------


def test_row_numbers_match_the_editor_around_blank_lines(tmp_path):
    text = "\n\nname,iin\r\nA,111111111111\r\n\r\nB,222222222222\r\n,,\r\n"
    assert rows(write(tmp_path, "list.csv", text)) == [("111111111111", 4), ("222222222222", 6)]


def test_classic_mac_line_ends_are_lines_too(tmp_path):
    text = "name;iin\rA;111111111111\rB;222222222222"
    assert rows(write(tmp_path, "list.csv", text)) == [("111111111111", 2), ("222222222222", 3)]


def test_blank_lines_in_a_single_column_file_are_skipped_but_counted(tmp_path):
    text = "iin\n111111111111\n\n222222222222\n\n"
    assert rows(write(tmp_path, "list.csv", text)) == [("111111111111", 2), ("222222222222", 4)]


def test_empty_iin_cell_is_null_and_kept(tmp_path):
    text = 'name,iin\nA,\nB,""\nC,333333333333\n'
    assert rows(write(tmp_path, "list.csv", text)) == [(None, 2), (None, 3), ("333333333333", 4)]


def test_multiline_quoted_field_counts_as_one_row(tmp_path):
    text = 'iin,note\n111111111111,"two\nlines"\n222222222222,x\n'
    assert rows(write(tmp_path, "list.csv", text)) == [("111111111111", 2), ("222222222222", 3)]


def test_broken_quotes_give_an_upload_error(tmp_path):
    error = refused(write(tmp_path, "list.csv", 'name,iin\n"Ivanov,1\nB,2\n'))
    assert "could not be read" in error.problem and "quotes" in error.fix


def test_extension_is_case_insensitive(tmp_path):
    assert rows(write(tmp_path, "LIST.CSV", "iin\n012345678901\n")) == [("012345678901", 2)]


@pytest.mark.parametrize("name", ["list.xls", "list.json", "list"])
def test_unsupported_extension_names_the_accepted_ones(tmp_path, name):
    error = refused(write(tmp_path, name, "iin\n012345678901\n"))
    assert all(ext in error.fix for ext in (".csv", ".txt", ".xlsx", ".parquet"))


# --- xlsx -----------------------------------------------------------------------------------


def test_xlsx_numbers_become_digit_strings_without_point_zero(tmp_path):
    path = xlsx(tmp_path, [["Name", "IIN"], ["A", 12345678901], ["B", 123456789012], ["C", 9.0]])
    assert rows(path) == [("12345678901", 2), ("123456789012", 3), ("9", 4)]


def test_xlsx_text_cells_are_kept_as_typed(tmp_path):
    path = xlsx(tmp_path, [["ИИН"], ["012345678901"], [" 0123-4567-8901"]])
    assert rows(path) == [("012345678901", 2), (" 0123-4567-8901", 3)]


def test_xlsx_rows_are_excel_row_numbers(tmp_path):
    sheet = [["iin", "name"], [12345678901, "A"], [None, None], [None, "no iin"], ["x", None]]
    path = xlsx(tmp_path, sheet, first_row=2)  # header in Excel row 3
    assert rows(path) == [("12345678901", 4), (None, 6), ("x", 7)]


def test_xlsx_single_column_without_header(tmp_path):
    path = xlsx(tmp_path, [[12345678901], ["012345678901"]])
    assert rows(path) == [("12345678901", 1), ("012345678901", 2)]


def test_xlsx_without_iin_column_lists_columns(tmp_path):
    error = refused(xlsx(tmp_path, [["Name", "Phone"], ["A", 77011234567]]))
    assert '"N*** (4 chars)", "P*** (5 chars)"' in error.problem


def test_xlsx_empty_first_sheet_has_no_rows(tmp_path):
    assert refused(xlsx(tmp_path, [])).problem == "has no rows"


def test_corrupt_xlsx_gives_an_upload_error(tmp_path):
    assert "not a readable .xlsx" in refused(write(tmp_path, "list.xlsx", b"PK\x03\x04?")).problem


# --- parquet --------------------------------------------------------------------------------


def test_parquet_integer_iins_become_digit_strings(tmp_path):
    path = tmp_path / "list.parquet"
    pl.DataFrame({"id": [1, 2, 3], "IIN": [12345678901, None, 123456789012]}).write_parquet(path)
    assert rows(path) == [("12345678901", 2), (None, 3), ("123456789012", 4)]


def test_parquet_string_and_float_iins(tmp_path):
    strings, floats = tmp_path / "s.parquet", tmp_path / "f.parquet"
    pl.DataFrame({"client_iin": ["012345678901", " 1-2 "]}).write_parquet(strings)
    pl.DataFrame({"iin": [12345678901.0, 1.5]}).write_parquet(floats)
    assert rows(strings) == [("012345678901", 2), (" 1-2 ", 3)]
    assert rows(floats) == [("12345678901", 2), ("1.5", 3)]


def test_parquet_without_iin_column_lists_columns(tmp_path):
    path = tmp_path / "list.parquet"
    pl.DataFrame({"customer": ["012345678901"]}).write_parquet(path)
    assert '"c*** (8 chars)"' in refused(path).problem


def test_parquet_empty_and_corrupt(tmp_path):
    empty = tmp_path / "empty.parquet"
    pl.DataFrame({"iin": []}, schema={"iin": pl.String}).write_parquet(empty)
    assert refused(empty).problem == "has no rows"
    assert "not a readable Parquet" in refused(write(tmp_path, "bad.parquet", b"junk")).problem
