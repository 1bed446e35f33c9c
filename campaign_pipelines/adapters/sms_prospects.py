"""An SMS campaign's prospects as the ledger takes them (adapters/sms_start.Prospects:
phone_e164, first_name, idempotency_key), from the source its file names.

- ``campaign_code: C000000123``: the deployed campaign's target group
  (``dssb_ocds.mb22_local_target`` by CAMPAIGNCODE) joined to the reference config's
  ``phones:`` SQL, which is placed as a subquery; the code is a bind (``:code``, ``$code`` for
  DuckDB), never text in the SQL. Extra columns of that SQL are kept, so a ``first_name``
  there greets by name. A code with no target rows (unknown, deleted, deployed without
  targeting) is an error naming it, and so is a group none of whose customers has a number;
  no ``phones:`` in the config is an error naming the config file.
- ``upload: NAME``: the file in landing/uploads (``uploads.upload_path``'s name rules). CSV
  and TXT are decoded by upload_text's rules (UTF-8 with or without BOM, UTF-16 with a BOM,
  the separator sniffed from the header), every cell read as text; XLSX through fastexcel
  (first sheet, every cell as text); Parquet as stored. The phone column is the first of
  core/sms/phones.PHONE_COLUMNS (none: the error names the columns); a first-name column
  (core/sms/phones.FIRST_NAME_COLUMNS) is optional.

Every number goes through core/sms/phones.normalise_phones: invalid ones are counted and the
first 20 reported with their row (the header is row 1), duplicates counted; one message per
number. A customer of a campaign code with two numbers gets one message, at the first valid
number in phone order: the others count as duplicates. Customers without a number are counted
apart (``without_phone``): no number is not an invalid number. Set operations throughout, no
loop over rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastexcel
import polars as pl

from campaign_pipelines.adapters.reference_config import ReferenceConfig
from campaign_pipelines.adapters.sms_start import Prospects
from campaign_pipelines.adapters.storage import as_path, storage_for
from campaign_pipelines.adapters.upload_text import (
    UploadError,
    scrubbed,
    sniff_separator,
    utf8_bytes,
)
from campaign_pipelines.adapters.uploads import upload_path
from campaign_pipelines.adapters.warehouse.protocol import WarehouseReader
from campaign_pipelines.core.deployment import MB22_LOCAL_TARGET
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.ledger import with_idempotency_keys
from campaign_pipelines.core.sms.phones import (
    first_name_column,
    fix_for,
    normalise_phones,
    one_number_per_customer,
    phone_column,
)

PROBLEMS_LISTED = 20
_NO_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Resolved:
    """The prospects and what a person reads about them: where they came from, the counts
    (rows, valid, invalid, duplicate, without_phone) and the first invalid rows."""

    prospects: Prospects
    source: str
    counts: dict[str, int]
    problems: list[dict] = field(default_factory=list)


def target_phones_sql(phones: str) -> str:
    """The target group of ``:code`` with each customer's numbers (null when none)."""
    return (f"SELECT t.IIN AS target_iin, p.* FROM {MB22_LOCAL_TARGET.qualified} t "  # noqa: S608
            f"LEFT JOIN ({phones}) p ON p.iin = t.IIN WHERE t.CAMPAIGNCODE = :code "
            "ORDER BY t.IIN, p.phone")


@dataclass(frozen=True)
class ProspectSource:
    """Resolves the prospects of a campaign row of ``campaign_ops.sms_campaigns``."""

    uploads_dir: Path
    warehouse: WarehouseReader
    reference: ReferenceConfig

    def resolve(self, campaign: dict[str, Any]) -> Resolved:
        """ProblemsError (naming the campaign's source) when there is nobody to text."""
        kind, value = campaign["prospects_kind"], campaign["prospects_value"]
        if kind == "campaign_code":
            return self.from_campaign_code(campaign["name"], value)
        return self.from_upload(campaign["name"], value)

    def from_campaign_code(self, name: str, code: str) -> Resolved:
        where = f"prospects.campaign_code {code}"
        if self.reference.phones is None:
            raise ProblemsError([{
                "field": "prospects.campaign_code",
                "problem": f"the reference config {self.reference.path} has no 'phones:' SQL, "
                "so a campaign's customers have no numbers",
                "fix": f"add a 'phones:' SQL returning iin and phone to {self.reference.path}, "
                "or give the campaign an upload with a phone column"}], where)
        sql = target_phones_sql(self.reference.phones)
        found = self.warehouse.fetch(sql, {"code": code}).rename(str.lower)
        if found.height == 0:
            raise ProblemsError([{
                "field": "prospects.campaign_code",
                "problem": f"campaign {code} has no rows in {MB22_LOCAL_TARGET.qualified}: it "
                "is unknown, deleted, or was deployed without its target group",
                "fix": "check the code with `campaigns show CODE`, or deploy the campaign "
                "with deploy_targeting first"}], where)
        customers = found.get_column("target_iin").n_unique()
        with_phone = found.filter(pl.col("phone").is_not_null())
        if with_phone.height == 0:
            raise ProblemsError([{
                "field": "prospects.campaign_code",
                "problem": f"none of the {customers:,} customers of campaign {code} has a "
                f"number in the reference config's phones SQL ({self.reference.path})",
                "fix": "check the phones source, or give the campaign an upload"}], where)
        phones = normalise_phones(with_phone.with_row_index("row", 1), "phone")
        valid, counts = one_number_per_customer(
            phones, customers, with_phone.get_column("target_iin").n_unique())
        return self._resolved(name, valid, counts, _problems(phones.rows, "phone"),
                              f"campaign {code}")

    def from_upload(self, name: str, upload: str) -> Resolved:
        try:
            path = upload_path(self.uploads_dir, upload)
            frame = read_phone_list(path)
        except UploadError as error:
            raise ProblemsError([{"field": "prospects.upload", "problem": f"{error.file} "
                                  f"{error.problem}", "fix": error.fix}], upload) from None
        column = _phone_column(upload, frame.columns)
        phones = normalise_phones(frame, column)
        counts = {**phones.counts, "without_phone": 0}
        return self._resolved(name, phones.recipients(), counts,
                              _problems(phones.rows, column), f"upload {upload}")

    def _resolved(self, name: str, valid: pl.DataFrame, counts: dict[str, int],
                  problems: list[dict], source: str) -> Resolved:
        first = first_name_column(valid.columns)
        rows = valid.select("phone_e164", first_name=(
            pl.col(first).cast(pl.String) if first else pl.lit(None, pl.String)))
        prospects = Prospects(with_idempotency_keys(rows, name),
                              invalid=counts["invalid"], duplicate=counts["duplicate"])
        return Resolved(prospects, source, counts, problems)


def upload_columns_problems(uploads_dir: Path, upload: str) -> list[dict]:
    """What refuses a campaign's upload when it is there already (no phone column, not
    readable); nothing when it is not there yet: it must be by the campaign's start."""
    if not (as_path(uploads_dir) / upload).exists():
        return []
    try:
        _phone_column(upload, read_phone_list(upload_path(uploads_dir, upload)).columns)
    except UploadError as error:
        return [{"field": "prospects.upload", "problem": f"{error.file} {error.problem}",
                 "fix": error.fix}]
    except ProblemsError as error:
        return error.problems
    return []


def read_phone_list(path: Path) -> pl.DataFrame:
    """The list's cells as text (Parquet: as stored) and ``row``, the row a person sees (the
    header is row 1); UploadError for a file that cannot be read. An upload on an object store
    (``CAMPAIGN_DATA_URL``) is read from a local copy of the same name."""
    with storage_for(path).local_copy(path) as local:
        return _read_phone_file(local)


def _read_phone_file(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return _read_text(path)
        if suffix == ".xlsx":
            sheet = fastexcel.read_excel(path).load_sheet(0, dtypes="string")
            return sheet.to_polars().with_row_index("row", 2).with_columns(
                pl.col("row").cast(pl.Int64))
        if suffix == ".parquet":
            return pl.read_parquet(path).with_row_index("row", 2).with_columns(
                pl.col("row").cast(pl.Int64))
    except (fastexcel.FastExcelError, pl.exceptions.PolarsError, OSError) as error:
        raise UploadError(path.name, f"could not be read ({scrubbed(error)})",
                          "export the list again as UTF-8 CSV or .xlsx") from error
    raise UploadError(path.name, f"has the extension {path.suffix!r}",
                      "upload the list as .csv, .txt, .xlsx or .parquet")


def _read_text(path: Path) -> pl.DataFrame:
    data = utf8_bytes(path.name, path.read_bytes())
    text = data.lstrip(b"\r\n \t")
    lines_before = data[: len(data) - len(text)].count(b"\n")
    header = text.split(b"\n", 1)[0].decode().strip("\r")
    separator = sniff_separator(header) or _NO_SEPARATOR
    names = next(csv.reader([header], delimiter=separator))
    return pl.read_csv(io.BytesIO(text), separator=separator, infer_schema=False,
                       new_columns=[n.strip() for n in names], row_index_name="row",
                       row_index_offset=lines_before + 2, raise_if_empty=False
                       ).with_columns(pl.col("row").cast(pl.Int64))


def _phone_column(upload: str, columns: list[str]) -> str:
    try:
        return phone_column([c for c in columns if c != "row"])
    except ProblemsError as error:
        problem = error.problems[0]
        raise ProblemsError([{**problem, "field": "prospects.upload",
                              "problem": f"{upload} has {problem['problem']}"}], upload) from None


def _problems(rows: pl.DataFrame, column: str) -> list[dict]:
    """The first invalid rows, by the row a person sees; no value is repeated."""
    bad = rows.filter(pl.col("phone_outcome") == "invalid").head(PROBLEMS_LISTED)
    return [{"field": f"row {row}: {column}", "problem": problem, "fix": fix_for(problem)}
            for row, problem in bad.select("row", "phone_problem").iter_rows()]
