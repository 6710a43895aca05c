"""How a log record's body is kept in ``log_records.body``: a string as its plain text, anything else as JSON.

``log_records.body_type`` tells them apart: ``string`` (the text itself), ``json`` (an OTLP AnyValue
of another type, JSON-encoded as attributes are: bytes as ``{"$bytes": base64}``; no body is
``null``), and NULL for rows written before the column existed, whose bodies were all JSON.
"""

from __future__ import annotations

import json

STRING = "string"
JSON = "json"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode(body: object) -> tuple[str, str]:
    """(the ``body`` column, the ``body_type`` column) for a decoded body."""
    if isinstance(body, str):
        return body, STRING
    return _dumps(body), JSON


def decode(text: str, body_type: str | None) -> object:
    """The body as decoded from OTLP, from its two columns."""
    if body_type == STRING:
        return text
    try:
        return json.loads(text)
    except ValueError:  # not JSON although marked so: show what is there rather than fail the read
        return text
