"""The ingestion API's validation layer (pydantic) and the OpenAPI description served at ``/openapi.json``.

Each ingestion body is checked against one model: types, ranges, finite numbers. A body that fails gets a
400 naming the first field at fault; one that passes is turned into a record and then normalised (see
:mod:`sentrial_integrations.core.record.normalize`: lone surrogates replaced, nesting capped, big integers
kept as text), so whatever is accepted can be stored and read back.

Unknown fields are accepted and ignored (the public API may grow); ``null`` means "not given" throughout.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..core.exporters import wire
from ..core.record.normalize import MAX_COST, MAX_DURATION_MS, MAX_SAFE_INT

_CONFIG = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

Duration = Annotated[float, Field(ge=0, le=MAX_DURATION_MS, description="milliseconds, finite, >= 0")]
Count = Annotated[float, Field(ge=0, le=MAX_SAFE_INT, description="a count, finite, 0 .. 2^53")]
Cost = Annotated[float, Field(ge=-MAX_COST, le=MAX_COST, description="US dollars, finite")]
Confidence = Annotated[float, Field(ge=-MAX_COST, le=MAX_COST, description="finite, usually 0..1")]
Timestamp = Annotated[
    str | float,
    Field(description="ISO-8601 date-time (no offset means UTC) or epoch seconds, within 1970..3000"),
]


def _check_time(value: Any) -> Any:
    if value is not None and wire.parse_iso(value) is None:
        raise ValueError("must be an ISO-8601 date-time (or epoch seconds) between 1970 and 3000")
    return value


class SessionCreate(BaseModel):
    """``POST /api/sdk/sessions``"""

    model_config = _CONFIG

    name: str = Field(min_length=1)
    agentName: str | None = None
    userId: str | None = None
    parentSessionId: str | None = None
    convoId: str | None = None
    metadata: dict[str, Any] | None = None
    startedAt: Timestamp | None = Field(None, description="extension: when the session really started")

    _time = field_validator("startedAt")(_check_time)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class EventCreate(BaseModel):
    """``POST /api/sdk/events``"""

    model_config = _CONFIG

    sessionId: str = Field(min_length=1)
    eventType: Literal["tool_call", "llm_decision", "error"]
    eventId: str | None = None
    sequence: int | None = Field(None, ge=0, le=MAX_SAFE_INT)
    timestamp: Timestamp | None = None
    toolName: str | None = None
    toolInput: dict[str, Any] | None = None
    toolOutput: Any = None
    toolError: dict[str, Any] | None = None
    reasoning: str | None = None
    alternativesConsidered: Any = None
    decision: Any = None
    confidence: Confidence | None = None
    spanId: str | None = None
    parentSpanId: str | None = None
    durationMs: Duration | None = None
    tokenCount: Count | None = None
    estimatedCost: Cost | None = None
    metadata: dict[str, Any] | None = None

    _time = field_validator("timestamp")(_check_time)


class SessionClose(BaseModel):
    """``PATCH /api/sdk/sessions/{id}``"""

    model_config = _CONFIG

    status: Literal["completed", "failed"] | None = None
    success: bool | None = None
    failureReason: str | None = None
    sentrialStatus: str | None = None
    assistantOutput: Any = None
    customMetrics: dict[str, Any] | None = None
    durationMs: Duration | None = None
    promptTokens: Count | None = None
    completionTokens: Count | None = None
    totalTokens: Count | None = None
    estimatedCost: Cost | None = None


class BodyError(Exception):
    """A body that does not fit its model; ``message`` names the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_TEXTS = {
    "string_type": "must be a string or null",
    "dict_type": "must be an object or null",
    "float_type": "must be a number or null",
    "int_type": "must be an integer or null",
    "bool_type": "must be a boolean or null",
    "finite_number": "must be a finite number",
}


def validate(model: type[BaseModel], body: dict[str, Any]) -> None:
    """Raise :class:`BodyError` naming the first field of ``body`` that ``model`` refuses."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise BodyError(_message(model, errors[0] if errors else {}, len(errors))) from None


def _message(model: type[BaseModel], err: Any, count: int) -> str:
    loc = tuple(err.get("loc", ()))
    field = ".".join(str(p) for p in loc) or "body"
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    info = model.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    if kind == "literal_error":
        text = f"must be one of [{ctx.get('expected', '')}]"
    elif info is not None and info.is_required() and info.annotation is str:
        text = "is required and must be a non-empty string"
    elif kind == "missing":
        text = "is required"
    elif kind in ("less_than_equal", "less_than"):
        text = f"must be a number <= {ctx.get('le', ctx.get('lt'))}"
    elif kind in ("greater_than_equal", "greater_than"):
        text = f"must be a number >= {ctx.get('ge', ctx.get('gt'))}"
    elif kind == "value_error":
        text = str(ctx.get("error") or err.get("msg", "is invalid"))
    else:
        text = _TEXTS.get(kind) or str(err.get("msg", "is invalid")).lower()
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return f"'{field}' {text}{more}"


# --- OpenAPI ---------------------------------------------------------------------------------------------

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "bad body or query (the message names the field)",
        401: "missing or invalid API key",
        404: "no such session",
        413: "body too large",
        503: "store unavailable",
    }
    return {str(c): _json({"$ref": "#/components/schemas/Error"}, text[c]) for c in codes}


def openapi(version: str = "0") -> dict[str, Any]:
    """The OpenAPI 3.1 description of the ingestion and read APIs."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    for model in (SessionCreate, EventCreate, SessionClose):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    anything = {"type": "object", "additionalProperties": True}
    sid = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
    idem = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
    security: list[dict[str, list[str]]] = [{"bearer": []}]

    def body(name: str) -> dict[str, Any]:
        return {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }

    query = [
        {"name": "status", "in": "query", "schema": {"type": "string"}},
        {"name": "name", "in": "query", "schema": {"type": "string"}},
        {"name": "agent", "in": "query", "schema": {"type": "string"}},
        {"name": "meta", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
        {"name": "offset", "in": "query", "schema": {"type": "integer"}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sentrial local server", "version": version},
        "paths": {
            "/api/sdk/sessions": {
                "post": {
                    "operationId": "createSession",
                    "parameters": [idem],
                    "requestBody": body("SessionCreate"),
                    "security": security,
                    "responses": {
                        "201": _json(anything, "session created"),
                        **_errors(400, 401, 404, 413, 503),
                    },
                }
            },
            "/api/sdk/events": {
                "post": {
                    "operationId": "createEvent",
                    "parameters": [idem],
                    "requestBody": body("EventCreate"),
                    "security": security,
                    "responses": {"200": _json(anything, "event added"), **_errors(400, 401, 404, 413, 503)},
                }
            },
            "/api/sdk/sessions/{session_id}": {
                "patch": {
                    "operationId": "closeSession",
                    "parameters": [sid],
                    "requestBody": body("SessionClose"),
                    "security": security,
                    "responses": {
                        "200": _json(anything, "session closed"),
                        **_errors(400, 401, 404, 413, 503),
                    },
                }
            },
            "/api/sessions": {
                "get": {
                    "operationId": "listSessions",
                    "parameters": query,
                    "security": security,
                    "responses": {
                        "200": _json(anything, "sessions, total, limit, offset"),
                        **_errors(400, 401),
                    },
                }
            },
            "/api/sessions/{session_id}": {
                "get": {
                    "operationId": "getSession",
                    "parameters": [sid],
                    "security": security,
                    "responses": {"200": _json(anything, "session and its events"), **_errors(401, 404)},
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
