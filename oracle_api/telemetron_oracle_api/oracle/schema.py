"""Validation of state documents against the JSON contract, oracle-state.schema.json."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from importlib import resources as package_files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


def _is_datetime(value: object) -> bool:
    # jsonschema checks "date-time" only with an optional extra installed; RFC 3339 needs an offset.
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset")
    return True


@lru_cache(maxsize=1)
def schema() -> dict:
    text = package_files.files("telemetron_oracle_api").joinpath("schema/oracle-state.schema.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    # Imported on the first validation: jsonschema and what it loads are ~7 MiB that a server which
    # is never asked to validate does not need.
    from jsonschema import Draft202012Validator, FormatChecker

    format_checker = FormatChecker()
    format_checker.checks("date-time", raises=ValueError)(_is_datetime)
    return Draft202012Validator(schema(), format_checker=format_checker)


def validation_errors(state: dict, limit: int = 100) -> list[dict]:
    """Every way ``state`` breaks the contract, as {path, message}; empty when it is valid."""
    errors = sorted(validator().iter_errors(state), key=lambda e: list(e.absolute_path))
    return [
        {
            "path": "/" + "/".join(str(p) for p in e.absolute_path),
            "message": e.message,
            "schema_path": "/".join(map(str, e.schema_path)),
        }
        for e in errors[:limit]
    ]
