"""The tables the audiences group's metadata shows in the UI, rather than long JSON blobs."""

import dagster as dg

FUNNEL = dg.TableSchema(columns=[
    dg.TableColumn("step", "string", "filter_stats: after_<step>; received: initial_count"),
    dg.TableColumn("rows_left", "int", "users left after the step"),
    dg.TableColumn("removed", "int", "users the step removed (empty for received)"),
])
STRATA = dg.TableSchema(columns=[
    dg.TableColumn("stratum", "string", "e.g. device=android+iOS|mau=yes; all when unstratified"),
    dg.TableColumn("size", "int"),
    dg.TableColumn("target", "int"),
    dg.TableColumn("control", "int", "round(share × size)"),
])
REJECTED_SAMPLE = dg.TableSchema(columns=[
    dg.TableColumn("source", "string", "user_iins or the upload's file name"),
    dg.TableColumn("row", "int", "position in user_iins, or the row of the upload"),
    dg.TableColumn("value", "string", "masked: birth date and serial hidden"),
    dg.TableColumn("status", "string"),
    dg.TableColumn("reason", "string"),
])


def table(rows: list[dict], schema: dg.TableSchema) -> dg.TableMetadataValue:
    names = [column.name for column in schema.columns]
    records = [dg.TableRecord({name: row[name] for name in names}) for row in rows]
    return dg.MetadataValue.table(records, schema)
