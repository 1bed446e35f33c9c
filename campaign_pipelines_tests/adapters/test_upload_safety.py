"""Uploads that would deploy the wrong people or leak personal data into an error, written as
real files into tmp_path."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from campaign_pipelines.adapters.uploads import UploadError, read_upload, upload_path
from campaign_pipelines.core.audience import INVALID, classify_rows

FULL_WIDTH = "８５０３１５３００１００"
ARABIC_INDIC = "٨٥٠٣١٥٣٠٠١٠٠"


def refused(path: Path) -> UploadError:
    with pytest.raises(UploadError) as caught:
        read_upload(path)
    assert caught.value.file == path.name
    return caught.value


def statuses(path: Path) -> list[str]:
    rows = read_upload(path).select(pl.lit(path.name).alias("source"), "row", "raw_iin")
    return classify_rows(rows, strict_checksum=False)["status"].to_list()


def workbook(path: Path, write) -> Path:
    book = xlsxwriter.Workbook(path)
    write(book.add_worksheet("customers"))
    book.close()
    return path


# --- digits that are not ASCII, negative numbers --------------------------------------------


def test_non_ascii_digits_are_never_deployed(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(f"iin\n{FULL_WIDTH}\n{ARABIC_INDIC}\n850315300100\n", encoding="utf-8")
    assert statuses(path) == [INVALID, INVALID, "ok"]


def test_a_lone_column_of_non_ascii_digits_is_not_taken_for_iins(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(f"{FULL_WIDTH}\n{FULL_WIDTH}\n", encoding="utf-8")
    error = refused(path)
    assert "has no IIN column" in error.problem and FULL_WIDTH not in str(error)


def test_negative_numbers_in_xlsx_and_parquet_are_invalid(tmp_path):
    def write(ws):
        ws.write_string(0, 0, "iin")
        ws.write_number(1, 0, -850315300100)
        ws.write_number(2, 0, -10203501234)
        ws.write_number(3, 0, 850315300100)

    book = workbook(tmp_path / "list.xlsx", write)
    raw = read_upload(book)["raw_iin"].to_list()
    assert raw == ["-850315300100", "-10203501234", "850315300100"]
    assert statuses(book) == [INVALID, INVALID, "ok"]
    parquet = tmp_path / "list.parquet"
    pl.DataFrame({"iin": [-850315300100, 850315300100]}).write_parquet(parquet)
    assert statuses(parquet) == [INVALID, "ok"]


# --- parquet column types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([["850315300100"], []], "List"),
        ([{"iin": "850315300100"}, {"iin": None}], "Struct"),
        ([True, False], "Boolean"),
    ],
    ids=["list", "struct", "boolean"],
)
def test_parquet_iin_column_of_another_type_is_refused(tmp_path, values, shown):
    path = tmp_path / "list.parquet"
    pl.DataFrame({"name": ["a", "b"], "IIN": values}).write_parquet(path)
    error = refused(path)
    assert '"IIN"' in error.problem and shown in error.problem
    assert "text" in error.fix and "integer" in error.fix


# --- xlsx formulas and hidden rows ----------------------------------------------------------


def test_formula_cells_in_the_iin_column_are_refused_naming_them(tmp_path):
    def write(ws):
        ws.write_row(0, 0, ["iin", "total"])
        for row in range(1, 9):
            if row in (1, 6):
                ws.write_formula(row, 0, f"=B{row + 1}")  # cached value 0: what calamine reads
            else:
                ws.write_string(row, 0, "850315300100")
            ws.write_formula(row, 1, "=1+1")  # formulas elsewhere are fine

    error = refused(workbook(tmp_path / "list.xlsx", write))
    assert "A2, A7" in error.problem and "formula" in error.problem
    assert "paste" in error.fix.lower() and "values" in error.fix


def test_formula_with_a_cached_value_is_refused_too(tmp_path):
    def write(ws):
        ws.write_string(1, 2, "ИИН")  # the sheet starts at C2: columns are Excel's, not the frame's
        ws.write_string(2, 2, "850315300100")
        ws.write_formula(3, 2, '="850315300101"', None, "850315300101")
        ws.write_formula(3, 3, "=1")

    error = refused(workbook(tmp_path / "list.xlsx", write))
    assert "C4" in error.problem and "D4" not in error.problem


def test_formulas_outside_the_iin_column_are_read(tmp_path):
    def write(ws):
        ws.write_row(0, 0, ["name", "iin"])
        ws.write_formula(1, 0, '="A"')
        ws.write_string(1, 1, "850315300100")

    assert read_upload(workbook(tmp_path / "list.xlsx", write)).rows() == [("850315300100", 2)]


def test_formulas_are_found_when_every_element_has_a_namespace_prefix(tmp_path):
    def write(ws):
        ws.write_string(0, 0, "iin")
        ws.write_formula(1, 0, "=1")
        ws.write_string(2, 0, "850315300100")

    plain = workbook(tmp_path / "plain.xlsx", write)
    prefixed = tmp_path / "list.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(prefixed, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":  # <x:c r="A2"><x:f>, as some SDKs do
                data = re.sub(rb"<(/?)(?!\?)(\w+)", rb"<\1x:\2", data)
                data = data.replace(b"xmlns=", b"xmlns:x=")
            target.writestr(item, data)
    assert "cells A2" in refused(prefixed).problem


def test_hidden_rows_are_refused_naming_them(tmp_path):
    def write(ws):
        ws.write_string(0, 0, "iin")
        for row in range(1, 6):
            ws.write_string(row, 0, f"85031530010{row}")
        ws.autofilter(0, 0, 5, 0)
        ws.set_row(2, None, None, {"hidden": True})
        ws.set_row(4, None, None, {"hidden": True})
        ws.set_row(9, None, None, {"hidden": True})  # hidden but empty: nothing to deploy

    error = refused(workbook(tmp_path / "list.xlsx", write))
    assert "rows 3, 5" in error.problem and "hidden" in error.problem
    assert "unhide" in error.fix and "delete" in error.fix
    assert "850315300103" not in str(error)


def test_a_hidden_first_sheet_is_refused(tmp_path):
    path = tmp_path / "list.xlsx"
    book = xlsxwriter.Workbook(path)
    hidden = book.add_worksheet("old")
    hidden.write_column(0, 0, ["iin", "850315300100"])
    shown = book.add_worksheet("customers")
    shown.write_column(0, 0, ["iin", "850315300101"])
    shown.activate()
    hidden.hide()
    book.close()
    error = refused(path)
    assert "first sheet" in error.problem and "hidden" in error.problem
    assert "unhide" in error.fix


# --- personal data stays out of errors ------------------------------------------------------

PERSON = ("Asel Nurlanovna", "+77011234567", "asel.n@mail.kz")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_row_of_personal_data_is_never_quoted(tmp_path, kind):
    if kind == "csv":
        path = tmp_path / "list.csv"
        path.write_text(",".join(PERSON) + "\nBek,+77020000000,b@b.kz\n", encoding="utf-8")
    else:
        path = workbook(tmp_path / "list.xlsx", lambda ws: ws.write_row(0, 0, PERSON))
    error = refused(path)
    assert "has no IIN column" in error.problem
    for cell in PERSON:
        assert cell not in str(error)
        assert cell[1:6] not in str(error)
    assert '"A*** (15 chars)", "+*** (12 chars)", "a*** (14 chars)"' in error.problem


def test_csv_parse_errors_do_not_quote_the_line(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text('iin\n850315300100\n"850315300101\n', encoding="utf-8")
    error = refused(path)
    assert "could not be read" in error.problem and "850315300101" not in str(error)


# --- upload_path ----------------------------------------------------------------------------


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / "uploads"
    folder.mkdir(parents=True)
    (folder / "spring.csv").write_text("iin\n850315300100\n")
    return folder


def test_upload_path_gives_the_file_inside_uploads(uploads):
    assert upload_path(uploads, "spring.csv") == uploads / "spring.csv"


def test_missing_upload_lists_what_is_there(uploads):
    for i in range(25):
        (uploads / f"list_{i:02d}.csv").write_text("iin\n")
    (uploads / ".spring.csv.tmp").write_text("")
    (uploads / "folder.csv").mkdir()
    with pytest.raises(UploadError) as caught:
        upload_path(uploads, "autumn.csv")
    assert caught.value.file == "autumn.csv" and "is not in" in caught.value.problem
    assert "list_00.csv" in caught.value.fix and "list_19.csv" in caught.value.fix
    assert "list_20.csv" not in caught.value.fix and "and 6 more" in caught.value.fix
    assert ".spring.csv.tmp" not in caught.value.fix and "folder.csv" not in caught.value.fix


def test_a_folder_is_not_an_upload(uploads):
    (uploads / "folder.csv").mkdir()
    with pytest.raises(UploadError) as caught:
        upload_path(uploads, "folder.csv")
    assert "not a regular file" in caught.value.problem


def test_symlink_outside_uploads_is_refused(uploads, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("iin\n850315300100\n")
    (uploads / "list.csv").symlink_to(secret)
    (uploads / "up.csv").symlink_to(Path("..") / ".." / "secret.csv")
    for name in ("list.csv", "up.csv"):
        with pytest.raises(UploadError) as caught:
            upload_path(uploads, name)
        assert caught.value.fix == (
            "symlinks pointing outside landing/uploads are refused: copy the file in"
        )


def test_symlink_inside_uploads_is_followed(uploads):
    (uploads / "alias.csv").symlink_to("spring.csv")
    path = upload_path(uploads, "alias.csv")
    assert read_upload(path).rows() == [("850315300100", 2)]


def test_dangling_symlink_is_missing(uploads):
    (uploads / "gone.csv").symlink_to("nowhere.csv")
    with pytest.raises(UploadError) as caught:
        upload_path(uploads, "gone.csv")
    assert "is not in" in caught.value.problem


@pytest.mark.parametrize("name", ["../secret.csv", "sub/list.csv", "..", ""])
def test_names_with_folders_are_refused(uploads, name):
    with pytest.raises(UploadError) as caught:
        upload_path(uploads, name)
    assert "folder" in caught.value.fix


def test_uploads_folder_reached_through_a_symlink(uploads, tmp_path):
    link = tmp_path / "uploads_link"
    os.symlink(uploads, link)
    assert upload_path(link, "spring.csv") == link / "spring.csv"
