"""Conditions on contact fields that narrow a campaign's audience: an automation's `field` condition.

The same object as in an automation (`{"type": "field", "field": "plan", "op": "eq", "value": "pro"}`),
so a marketer writes one language; `type` may be left out here. A condition that could never be
meant (an operator without its value, text compared with a number on a built-in field) is refused
with its key named. Pure pydantic; nurture/campaigns/condition_sql.py compiles it to SQL.
"""

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# The contact's own columns a condition can read, and what they hold; any other name is a custom
# field. The same names as automations' conditions (nurture/automations/evaluate.py BUILT_IN).
BUILT_IN: dict[str, Literal["text", "id"]] = {
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "phone": "text",
    "timezone": "text",
    "status": "text",
    "owner_id": "id",
    "account_id": "id",
}
# Custom field keys, as contacts store them (nurture/schemas/fields.py).
_CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_IN_VALUES = 100
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "missing", "in"]
ORDERED = ("gt", "gte", "lt", "lte")
Scalar = str | bool | int | float


class FieldCondition(BaseModel):
    """A contact field (built-in or custom) compared with a value, as in an automation's condition.

    `eq`, `ne` and `in` compare values of the same JSON type (`"5"` is not `5`); `gt`, `gte`, `lt`,
    `lte` compare numbers, or text in code-point order (ISO dates compare as dates); `contains`
    finds text, ignoring case; `exists` and `missing` take no value. A contact without the field
    meets only `ne` and `missing`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["field"] = "field"
    field: str = Field(min_length=1, max_length=64)
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = Field(default=None, validate_default=True)

    @field_validator("field")
    @classmethod
    def _known_shape(cls, name: str) -> str:
        if name not in BUILT_IN and not _CUSTOM_KEY.match(name):
            raise ValueError(
                f"'{name}' is neither a built-in field ({', '.join(BUILT_IN)}) nor a custom field key"
            )
        return name

    @field_validator("value")
    @classmethod
    def _fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op, name = info.data.get("op"), info.data.get("field")
        if op is None:  # the operator itself was refused: that error says enough
            return value
        _check_value(op, value)
        if name in BUILT_IN and value is not None:
            _check_built_in(name, BUILT_IN[name], op, value)
        return value


def _check_value(op: str, value: Any) -> None:
    if op in ("exists", "missing"):
        if value is not None:
            raise ValueError(f"'{op}' takes no value")
        return
    if value is None:
        raise ValueError(f"'{op}' needs a value; use 'missing' or 'exists' for an empty field")
    if op == "in":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
            raise ValueError(f"'in' needs a list of 1 to {MAX_IN_VALUES} values")
        for v in value:
            _check_value("eq", v)
        return
    if isinstance(value, list):
        raise ValueError(f"'{op}' compares with one value; use 'in' for a list")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if op == "contains" and not isinstance(value, str):
        raise ValueError("'contains' looks for text: give a string")
    if op in ORDERED and isinstance(value, bool):
        raise ValueError(f"'{op}' compares numbers or text (such as ISO dates), not true or false")


def _check_built_in(name: str, kind: str, op: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    if kind == "text" and not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} holds text: compare it with a string")
    if kind == "id":
        if op == "contains":
            raise ValueError(f"{name} holds an id: 'contains' looks for text")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{name} holds an id: compare it with a whole number")
