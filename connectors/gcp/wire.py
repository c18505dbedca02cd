"""From any copy of the billing export to one typed row shape ("wire"), in DuckDB SQL.

A source is described by a ``Shape``: where each export field is (nested ``project.id``, a flattened
``project.id`` column, or the wire name ``project_id`` that our BigQuery query returns) and what type
it has there. ``wire_select`` turns that into one SELECT whose columns are exactly the wire fields with
the wire types of schema.py, so the BigQuery path and the local NDJSON/Parquet path share every rule
after this point.

Money: BigQuery's ``cost`` and ``credits.amount`` are FLOAT64. We convert a double to DECIMAL(38,18)
through its shortest round-trip decimal text, which is what BigQuery's own JSON API, console and
exports show (0.1, never 0.1000000000000000055511): the generator's decimal totals are then met to
the last digit, and every sum after that is an exact DECIMAL sum. Text values (JSON strings) are
cast as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from connectors.duckdb_util import quote_identifier, sql_literal
from connectors.gcp.schema import (
    CREDIT_FIELDS,
    LABEL_FIELDS,
    MONEY,
    WIRE_FIELDS,
    WireField,
    wire_type,
)

# Source type categories the conversions distinguish.
VARCHAR, DOUBLE, DECIMAL, INTEGER, TIMESTAMP, TIMESTAMPTZ, LIST, STRUCT, OTHER = (
    "varchar", "double", "decimal", "integer", "timestamp", "timestamptz", "list", "struct", "other",
)


@dataclass(frozen=True)
class Ref:
    expression: str  # SQL over the source relation
    category: str
    children: dict[str, str] = field(default_factory=dict)  # list-of-struct element field -> category


@dataclass(frozen=True)
class Shape:
    refs: dict[str, Ref]  # wire name -> where it is; absent = not in this source (NULL)

    def missing_required(self) -> list[str]:
        missing = [f.dotted for f in WIRE_FIELDS if f.required and f.name not in self.refs]
        credits = self.refs.get("credits")
        if credits is not None and "amount" not in credits.children:
            missing.append("credits.amount")
        return missing


def arrow_category(data_type: pa.DataType) -> str:
    if pa.types.is_floating(data_type):
        return DOUBLE
    if pa.types.is_decimal(data_type):
        return DECIMAL
    if pa.types.is_integer(data_type):
        return INTEGER
    if pa.types.is_timestamp(data_type):
        return TIMESTAMPTZ if data_type.tz else TIMESTAMP
    if pa.types.is_date(data_type):
        return TIMESTAMP
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_boolean(data_type):
        return VARCHAR
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return LIST
    if pa.types.is_struct(data_type):
        return STRUCT
    return OTHER


def shape_from_arrow(schema: pa.Schema) -> Shape:
    """Resolve every wire field in an Arrow schema: the wire name itself (our BigQuery query's output),
    a flattened dotted column ('project.id'), or the nested export struct."""
    columns = {f.name: f.type for f in schema}
    refs: dict[str, Ref] = {}
    for wire in WIRE_FIELDS:
        found: tuple[str, pa.DataType] | None = None
        if wire.name in columns:
            found = (quote_identifier(wire.name), columns[wire.name])
        elif wire.dotted in columns:
            found = (quote_identifier(wire.dotted), columns[wire.dotted])
        elif len(wire.path) == 2 and wire.path[0] in columns and pa.types.is_struct(columns[wire.path[0]]):
            parent = columns[wire.path[0]]
            index = parent.get_field_index(wire.path[1])
            if index >= 0:
                found = (f"struct_extract({quote_identifier(wire.path[0])}, {sql_literal(wire.path[1])})", parent.field(index).type)
        if found is None:
            continue
        expression, data_type = found
        children: dict[str, str] = {}
        if wire.kind in ("labels", "credits"):
            if not (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)):
                continue  # not a repeated record here; treated as absent (credits then fails as missing)
            element = data_type.value_type
            if pa.types.is_struct(element):
                children = {element.field(i).name: arrow_category(element.field(i).type) for i in range(element.num_fields)}
        refs[wire.name] = Ref(expression, arrow_category(data_type), children)
    return Shape(refs)


def ndjson_shape() -> Shape:
    """The shape of a read_json relation with schema.ndjson_columns(): every field present, as text."""
    refs: dict[str, Ref] = {}
    for wire in WIRE_FIELDS:
        top = quote_identifier(wire.path[0])
        expression = top if len(wire.path) == 1 else f"struct_extract({top}, {sql_literal(wire.path[1])})"
        children: dict[str, str] = {}
        if wire.kind == "credits":
            children = {name: VARCHAR for name, _ in CREDIT_FIELDS}
        elif wire.kind == "labels":
            children = {name: VARCHAR for name in LABEL_FIELDS}
        refs[wire.name] = Ref(expression, LIST if children else VARCHAR, children)
    return Shape(refs)


def text_expr(expression: str) -> str:
    return f"NULLIF(TRIM(CAST({expression} AS VARCHAR)), '')"


def money_expr(expression: str, category: str) -> str:
    if category == DOUBLE:
        # Shortest round-trip text of the double, then exact decimal (see module docstring).
        return f"CAST(CAST({expression} AS VARCHAR) AS {MONEY})"
    if category in (DECIMAL, INTEGER):
        return f"CAST({expression} AS {MONEY})"
    return f"CAST(NULLIF(TRIM(CAST({expression} AS VARCHAR)), '') AS {MONEY})"


def quantity_expr(expression: str, category: str) -> str:
    if category in (DOUBLE, DECIMAL, INTEGER):
        return f"CAST({expression} AS DOUBLE)"
    return f"CAST(NULLIF(TRIM(CAST({expression} AS VARCHAR)), '') AS DOUBLE)"


def timestamp_expr(expression: str, category: str) -> str:
    # The connection runs with TimeZone=UTC: a TIMESTAMPTZ becomes its UTC wall time. Text keeps its
    # zone suffix ('2020-11-09 23:00:00 UTC', '...Z', '+00:00'); text without one is UTC.
    if category in (TIMESTAMP, TIMESTAMPTZ):
        return f"CAST({expression} AS TIMESTAMP)"
    if category in (DOUBLE, INTEGER, DECIMAL):
        return f"CAST(to_timestamp(CAST({expression} AS DOUBLE)) AS TIMESTAMP)"
    return f"CAST(CAST(NULLIF(TRIM(CAST({expression} AS VARCHAR)), '') AS TIMESTAMPTZ) AS TIMESTAMP)"


def _element(children: dict[str, str], name: str, kind: str) -> str:
    if name not in children:
        return f"CAST(NULL AS {MONEY if kind == 'money' else 'VARCHAR'})"
    ref = f"struct_extract(e, {sql_literal(name)})"
    return money_expr(ref, children[name]) if kind == "money" else text_expr(ref)


def field_expr(wire: WireField, ref: Ref | None) -> str:
    if ref is None:
        if wire.kind in ("labels", "credits"):
            return f"CAST([] AS {wire_type(wire)})"
        return f"CAST(NULL AS {wire_type(wire)})"
    if wire.kind == "string":
        return text_expr(ref.expression)
    if wire.kind == "money":
        return money_expr(ref.expression, ref.category)
    if wire.kind == "quantity":
        return quantity_expr(ref.expression, ref.category)
    if wire.kind == "timestamp":
        return timestamp_expr(ref.expression, ref.category)
    if wire.kind == "labels":
        parts = ", ".join(f"{quote_identifier(n)} := {_element(ref.children, n, 'string')}" for n in LABEL_FIELDS)
        body = f"list_transform({ref.expression}, lambda e: struct_pack({parts}))"
    else:
        parts = ", ".join(f"{quote_identifier(n)} := {_element(ref.children, n, k)}" for n, k in CREDIT_FIELDS)
        body = f"list_transform({ref.expression}, lambda e: struct_pack({parts}))"
    # A NULL repeated field (JSON null, or a key left out) is an empty list.
    return f"coalesce(CAST({body} AS {wire_type(wire)}), CAST([] AS {wire_type(wire)}))"


def wire_select(shape: Shape, reader: str, source_file: str, extra: Iterable[str] = ()) -> str:
    """SELECT the wire columns (+ x_source_file and ``extra`` expressions) from ``reader``."""
    columns = [f"{field_expr(w, shape.refs.get(w.name))} AS {quote_identifier(w.name)}" for w in WIRE_FIELDS]
    columns.append(f"{source_file} AS x_source_file")
    columns.extend(extra)
    return "SELECT " + ",\n  ".join(columns) + f"\nFROM {reader}"


def find_first(con: object, shape: Shape, reader: str, condition: str) -> int | None:
    """Position (x_n of ``reader``) of the first row whose wire columns meet ``condition``."""
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    sql = wire_select(shape, reader, "NULL", extra=["x_n"])
    try:
        hit = con.execute(f"SELECT x_n FROM ({sql}) WHERE {condition} ORDER BY x_n LIMIT 1").fetchone()
    except duckdb.Error:
        return None
    return int(hit[0]) if hit else None


def find_bad_value(con: object, shape: Shape, reader: str) -> tuple[int, str, str, str] | None:
    """After a conversion error: (x_n, field, value as written, 'a number'|'a timestamp') of the first
    value that is not what the export schema says it is."""
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    for wire in WIRE_FIELDS:
        ref = shape.refs.get(wire.name)
        if ref is None or wire.kind in ("string", "labels"):
            continue
        safe = field_expr(wire, ref).replace("CAST(", "TRY_CAST(")
        if wire.kind == "credits":
            if "amount" not in ref.children:
                continue
            raw = (f"list_filter(list_transform({ref.expression}, lambda e: "
                   f"{text_expr('struct_extract(e, ' + sql_literal('amount') + ')')}), lambda a: a IS NOT NULL)")
            parsed = f"list_filter(list_transform({safe}, lambda c: c.amount), lambda a: a IS NOT NULL)"
            condition, shown, name = f"len({raw}) > len({parsed})", f"CAST({raw} AS VARCHAR)", "credits.amount"
        else:
            raw = text_expr(ref.expression)
            condition, shown, name = f"({safe}) IS NULL AND {raw} IS NOT NULL", raw, wire.dotted
        try:
            hit = con.execute(f"SELECT x_n, {shown} FROM {reader} WHERE {condition} ORDER BY x_n LIMIT 1").fetchone()
        except duckdb.Error:
            continue
        if hit:
            return int(hit[0]), name, str(hit[1]), "a timestamp" if wire.kind == "timestamp" else "a number"
    return None
