"""Error answers: one shape per API family, the handlers that produce them, and their place in the OpenAPI document.

The REST and Oracle routes answer FastAPI's ``{"detail": ...}``; Jaeger's v1 routes (``/api/*``)
its envelope with ``errors: [{code, msg}]``; api_v3 (``/api/v3/*``) its gateway's
``{"error": {"httpCode", "message"}}``. A malformed or out-of-range parameter is a 400 in all three
(FastAPI's own 422 for a value outside a declared bound included), so a client sees one status for
one mistake, and the OpenAPI document lists it on every operation that can return it.
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from ..settings import Settings
from ._respond import json_response
from .params import BadParameter

Family = Literal["rest", "v1", "v3"]


class BadRequest(ValueError):
    """A 400 whose message stands as it is (a malformed tag list, a missing pair of parameters)."""


class Detail(BaseModel):
    """A REST or Oracle error (and every 401)."""

    detail: str


class JaegerError(BaseModel):
    code: int | None = None
    msg: str
    traceID: str | None = None  # noqa: N815 - Jaeger's name


class JaegerErrors(BaseModel):
    """Jaeger's v1 envelope carrying errors."""

    data: None = None
    total: int
    limit: int
    offset: int
    errors: list[JaegerError]


class V3ErrorDetails(BaseModel):
    httpCode: int  # noqa: N815 - Jaeger's name
    message: str


class V3Error(BaseModel):
    """Jaeger api_v3's gateway error."""

    error: V3ErrorDetails


_MODELS: dict[Family, type[BaseModel]] = {"rest": Detail, "v1": JaegerErrors, "v3": V3Error}
_DESCRIPTIONS = {
    400: "a parameter is malformed or out of range (the message names it, the value and what is accepted)",
    401: "missing or wrong API token (only when TELEMETRON_API_TOKEN is set)",
    404: "not found",
    403: "the request's Origin may not send this method here (api/security.py)",
    415: "the body is not application/json (api/security.py)",
    502: "the OTLP export failed",
}


def family(path: str) -> Family:
    if path.startswith("/api/v3/"):
        return "v3"
    if path.startswith("/api/") and not path.startswith("/api/v1/"):
        return "v1"
    return "rest"


def error_response(fam: Family, status: int, message: str):
    if fam == "v1":
        body: dict = {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": status, "msg": message}]}
    elif fam == "v3":
        body = {"error": {"httpCode": status, "message": message}}
    else:
        body = {"detail": message}
    return json_response(body, status)


def parameter_message(fam: Family, param: str, problem: str) -> str:
    """Each family's wording, as Jaeger words its own (``unable to parse param``, ``malformed parameter``)."""
    if fam == "v1":
        return f"unable to parse param '{param}': {problem}"
    if fam == "v3":
        return f"malformed parameter {param}: {problem}"
    return f"invalid parameter {param}: {problem}"


def bad_parameter(fam: Family, exc: BadParameter):
    return error_response(fam, 400, parameter_message(fam, exc.param, str(exc)))


def documented(fam: Family, *statuses: int) -> dict:
    """``responses=`` for a route: each status with its description and the family's error schema."""
    return {
        status: {"model": _MODELS["rest" if status in (401, 403, 415) else fam], "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


# Starlette types every handler as taking Exception; each is registered (install) for one class only,
# so the casts below state what the registration guarantees.


async def _on_bad_parameter(request: Request, exc: Exception) -> Response:
    return bad_parameter(family(request.url.path), cast(BadParameter, exc))


async def _on_bad_request(request: Request, exc: Exception) -> Response:
    return error_response(family(request.url.path), 400, str(exc))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 for a value outside a declared type or bound, answered as the 400 it is."""
    validation = cast(RequestValidationError, exc)
    fam = family(request.url.path)
    problems = []
    for error in validation.errors():
        where = error["loc"] if error["loc"][0] == "body" else error["loc"][1:]  # body.error; limit, not query.limit
        param = ".".join(str(part) for part in where) or str(error["loc"][0])
        if error["type"] == "missing":
            problems.append(f"parameter {param} is required")
        elif error["type"] == "json_invalid":
            problems.append(f"the request body is not valid JSON: {error.get('ctx', {}).get('error', '')}")
        else:
            comparison = error["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
            expected = error["msg"].replace("Input should be ", "expected a value " if comparison else "expected ", 1)
            expected = expected.replace("String should match pattern", "expected a value matching", 1)
            shown = BadParameter(param, error.get("input"), expected)
            problems.append(parameter_message(fam, param, str(shown)))
    return error_response(fam, 400, "; ".join(problems))


def install(app: FastAPI, settings: Settings) -> None:
    """Register the handlers, and complete the OpenAPI document: 400 instead of 422, 401 in token mode."""
    app.add_exception_handler(BadParameter, _on_bad_parameter)
    app.add_exception_handler(BadRequest, _on_bad_request)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = generate()  # FastAPI keeps this very dict as app.openapi_schema; completed in place
            _complete(schema, settings)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _component(schema: dict, model: type[BaseModel]) -> dict:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if model.__name__ not in components:
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _complete(schema: dict, settings: Settings) -> None:
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None and "400" not in responses:
                model = _MODELS[family(path)]
                responses["400"] = {"description": _DESCRIPTIONS[400], "content": _component(schema, model)}
            if settings.api_token:
                responses["401"] = {"description": _DESCRIPTIONS[401], "content": _component(schema, Detail)}
    components = schema.get("components", {}).get("schemas", {})
    paths = json.dumps(schema.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, answered by nothing now
        if f'"#/components/schemas/{name}"' not in paths:
            components.pop(name, None)
    if settings.api_token:
        schema["components"].setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        schema["security"] = [{"bearer": []}]
