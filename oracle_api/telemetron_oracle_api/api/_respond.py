"""Responses the routes share: JSON serialized once with the C encoder.

FastAPI's default path walks every value of a returned dict through ``jsonable_encoder``, which
for a trace of a thousand spans costs more than the query; these routes return ready bytes.
"""

from __future__ import annotations

import json

from fastapi import Response

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class FastJSON(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return _encode(content).encode("utf-8")


def json_response(content: object, status_code: int = 200) -> FastJSON:
    return FastJSON(content, status_code=status_code)
