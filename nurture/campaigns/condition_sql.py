"""Field conditions as SQL on contacts, the same on SQLite and PostgreSQL.

A custom field is read from `contacts.custom_fields` with SQLAlchemy's JSON indexing, guarded by
its JSON type, so `"5"` never equals `5` on either database and PostgreSQL never casts text to a
number (which would fail the whole query). The guard is a CASE, whose order PostgreSQL keeps.
"""

import operator
from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, and_, case, false, func, literal, or_, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from nurture.campaigns.conditions import BUILT_IN, FieldCondition
from nurture.db.models import Contact


class json_kind(FunctionElement[str]):  # noqa: N801 - a SQL function, named as one
    """`string`, `number`, `boolean` or `null`: the JSON type of a key of a JSON column; NULL if absent."""

    type = String()
    name = "json_kind"
    inherit_cache = True


@compiles(json_kind, "postgresql")
def _json_kind_postgresql(element: json_kind, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"jsonb_typeof({column} -> CAST({key} AS TEXT))"


@compiles(json_kind, "sqlite")
def _json_kind_sqlite(element: json_kind, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    kind = f"json_type({column}, '$.\"' || {key} || '\"')"
    return (
        f"CASE {kind} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
        f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' WHEN 'null' THEN 'null' END"
    )


class code_point_order(FunctionElement[str]):  # noqa: N801 - a SQL function, named as one
    """Text that compares in code-point order, as Python does (ISO dates in date order)."""

    type = String()
    name = "code_point_order"
    inherit_cache = True


@compiles(code_point_order, "postgresql")
def _code_points_postgresql(element: code_point_order, compiler: SQLCompiler, **kw: Any) -> str:
    # The database's collation may order by language rules; "C" orders by code point.
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


@compiles(code_point_order, "sqlite")
def _code_points_sqlite(element: code_point_order, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)})"  # SQLite's BINARY collation already does


_OPERATORS = {"eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _holds(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    """The clause, false rather than NULL where a value is absent (so that NOT works)."""
    return func.coalesce(clause, false(), type_=Boolean)


def _json_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


class _Custom:
    """A custom field's value, read only where its JSON type is the one compared."""

    def __init__(self, name: str) -> None:
        self.item = Contact.custom_fields[name]
        self.kind = json_kind(Contact.custom_fields, literal(name, String))

    def present(self) -> ColumnElement[bool]:
        return self.kind.in_(["string", "number", "boolean"])

    def typed(self, kind: str) -> ColumnElement[Any]:
        """The value where it is of JSON type `kind`, else NULL."""
        item = self.item
        read = {"string": item.as_string, "number": item.as_float, "boolean": item.as_boolean}[kind]
        return case((self.kind == kind, read()))


def _target(condition: FieldCondition) -> ColumnElement[Any] | _Custom:
    if condition.field == "status":
        return type_coerce(Contact.status, String)  # an enum column: compared as the text it stores
    if condition.field in BUILT_IN:
        return getattr(Contact, condition.field)  # type: ignore[no-any-return]
    return _Custom(condition.field)


def _compare(target: ColumnElement[Any] | _Custom, op: str, value: Any) -> ColumnElement[bool]:
    """`target op value` for one value, where the target has a value of the same kind."""
    if isinstance(target, _Custom):
        kind = _json_type_of(value)
        column = target.typed(kind)
        if kind == "number":
            value = float(value)
    else:
        column, kind = target, _json_type_of(value)
    if op == "contains":
        return func.lower(column).contains(value.lower(), autoescape=True)
    if kind == "string" and op != "eq":
        column = code_point_order(column)
    return _OPERATORS[op](column, value)  # type: ignore[no-any-return]


def condition_clause(condition: FieldCondition) -> ColumnElement[bool]:
    """The WHERE clause of contacts that meet the condition; never NULL."""
    target = _target(condition)
    op, value = condition.op, condition.value
    if op in ("exists", "missing"):
        present = target.present() if isinstance(target, _Custom) else target.is_not(None)
        return _holds(present) if op == "exists" else ~_holds(present)
    if op == "in":
        assert isinstance(value, list), "checked by FieldCondition"
        return _holds(or_(*(_compare(target, "eq", v) for v in value)))
    if op == "ne":
        return ~_holds(_compare(target, "eq", value))
    return _holds(_compare(target, op, value))


def conditions_clause(conditions: list[FieldCondition]) -> ColumnElement[bool]:
    """Every condition holds."""
    return and_(*(condition_clause(c) for c in conditions))
