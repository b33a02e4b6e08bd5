"""Schema-driven fuzz of every ingestion route (Hypothesis, fixed budget, derandomised), and of the read
routes' query strings and ids.

Bodies are drawn from the server's own ``/openapi.json``: each documented field gets either a value of its
declared type (with edge values: 2^53 + 1, 1e308, lone surrogates, blank strings, deep nesting) or any JSON
at all, plus undocumented fields. No answer may be a 500; every 2xx must leave records that the read API,
the dashboard page and the CLI render.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi

from sentrial_integrations.core.store import SessionFilter, Store
from tests.readers import every_cli_command, every_page, run_cli

from .conftest import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
BUDGET = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),  # incl. lone surrogates
    st.sampled_from(
        ["", " ", "2024-05-01T10:00:00Z", "9999-12-31T23:59:59", "0001-01-01", "llm:openai:gpt-4o"]
    ),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),  # infinity goes on the wire as 1e999
    st.sampled_from([2**53, 2**53 + 1, 2**63, 2**64, 1e308, -1e18, 35184372088833, 0, -1, 0.5]),
)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"d": value}
    return value


leaves = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.one_of(
    st.recursive(
        leaves,
        lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(text, kids, max_size=4)),
        max_leaves=12,
    ),
    st.integers(60, 700).map(deep),
)


def for_schema(schema: dict[str, Any], valid: bool = False) -> st.SearchStrategy[Any]:
    """Values of the declared type: edge values included, or (``valid``) within the declared bounds."""
    if "anyOf" in schema:
        if "ISO-8601" in schema.get("description", ""):
            return (
                st.one_of(
                    st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(
                        lambda d: d.isoformat()
                    ),
                    st.floats(0, 3e10),
                )
                if valid
                else st.one_of(text, numbers)
            )
        return st.one_of([for_schema(s, valid) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if valid and kind == "number":
        return st.one_of(st.floats(lo, hi, allow_nan=False), st.integers(int(lo or 0), int(hi or 2**53)))
    if valid and kind == "integer":
        return st.integers(int(lo or 0), int(hi or 2**53))
    if valid and kind == "string" and schema.get("minLength"):
        return text.filter(lambda s: s.strip())
    typed = {
        "string": text,
        "number": numbers,
        "integer": st.integers(-(2**65), 2**65),
        "boolean": st.booleans(),
        "null": st.none(),
        "object": st.dictionaries(text, json_values, max_size=4),
        "array": st.lists(json_values, max_size=4),
    }.get(kind)  # type: ignore[arg-type]
    return json_values if typed is None else typed


def bodies(schema: dict[str, Any], fixed: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    props = schema.get("properties", {})

    def obj(valid: bool) -> st.SearchStrategy[dict[str, Any]]:
        fields = {
            name: fixed[name]
            if name in fixed
            else (for_schema(sub, True) if valid else st.one_of(for_schema(sub), json_values))
            for name, sub in props.items()
        }
        required = {name: fields.pop(name) for name in schema.get("required", [])}
        extra = st.dictionaries(text, json_values, max_size=2)
        return st.fixed_dictionaries(required, optional=fields).flatmap(
            lambda d: extra.map(lambda e: {**e, **d})
        )

    loose = st.fixed_dictionaries({}, optional={n: json_values for n in props})
    # type-valid objects (hostile content inside), objects with any values, any JSON at all
    return st.one_of(obj(True), obj(True), obj(False), obj(False), loose, json_values)


def encode(body: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes; infinity is sent as an out-of-range number
    return (
        json.dumps(body, allow_nan=True).replace("-Infinity", "-1e999").replace("Infinity", "1e999").encode()
    )


def check_readers(http: httpx.Client, db: str, sid: str) -> None:
    api = http.get(f"/api/sessions/{sid}", headers=AUTH)
    assert api.status_code == 200, api.text
    json.loads(api.text)
    page = http.get(f"/sessions/{sid}", headers=AUTH)
    assert page.status_code == 200, page.text[:300]
    code, out, err = run_cli("--db", db, "show", sid, "--json")
    assert code == 0, err
    assert json.loads(out)["session"]["id"] == sid
    code, out, err = run_cli("--db", db, "show", sid)
    assert code == 0, err
    assert sid in out


def test_fuzz_every_ingestion_route(live_server):
    server = live_server(api_key=API_KEY)
    http = httpx.Client(base_url=server.url, timeout=30)
    spec = http.get("/openapi.json").json()
    validate_openapi(spec)  # a valid OpenAPI 3.1 document, which schema-driven tools can read
    schemas = spec["components"]["schemas"]
    assert set(spec["paths"]) >= {"/api/sdk/sessions", "/api/sdk/events", "/api/sdk/sessions/{session_id}"}
    seed = http.post("/api/sdk/sessions", content=b'{"name": "seed"}', headers=AUTH).json()["id"]
    seen: dict[str, list[int]] = {"sessions": [], "events": [], "close": []}

    def send(method: str, path: str, body: Any, route: str) -> httpx.Response:
        resp = http.request(method, path, content=encode(body), headers=AUTH)
        assert resp.status_code != 500, (path, body, resp.text)
        assert resp.status_code in (200, 201, 307, 400, 404, 405), (path, resp.status_code, resp.text)
        assert resp.status_code < 400 or "message" in resp.json()
        seen[route].append(resp.status_code)
        return resp

    @BUDGET
    @given(bodies(schemas["SessionCreate"], {"name": st.one_of(st.just("fuzz"), text)}))
    def sessions(body: Any) -> None:
        resp = send("POST", "/api/sdk/sessions", body, "sessions")
        if resp.status_code == 201:
            check_readers(http, server.db_path, resp.json()["id"])

    @BUDGET
    @given(
        bodies(
            schemas["EventCreate"],
            {"sessionId": st.one_of(st.just(seed), st.just(seed), st.just(seed), text)},
        )
    )
    def events(body: Any) -> None:
        resp = send("POST", "/api/sdk/events", body, "events")
        if resp.status_code == 200:
            check_readers(http, server.db_path, seed)

    @BUDGET
    @given(bodies(schemas["SessionClose"], {}), st.one_of(st.none(), st.none(), st.none(), text))
    def close(body: Any, other: str | None) -> None:
        sid = http.post("/api/sdk/sessions", content=b'{"name": "c"}', headers=AUTH).json()["id"]
        path = f"/api/sdk/sessions/{sid}" if other is None else "/api/sdk/sessions/" + _quote(other)
        resp = send("PATCH", path, body, "close")
        if resp.status_code == 200:
            check_readers(http, server.db_path, sid)

    @BUDGET
    @given(
        st.dictionaries(
            st.sampled_from(["status", "name", "agent", "meta", "limit", "offset", "x"]),
            st.one_of(
                text, st.integers(-(2**70), 2**70).map(str), st.sampled_from(["running", "k=v", "=", ""])
            ),
            max_size=4,
        ),
        st.one_of(st.just(seed), text),
    )
    def reads(query: dict[str, str], ident: str) -> None:
        params = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in query.items()}
        for path in ("/api/sessions", "/"):
            resp = http.get(path, params=params, headers=AUTH)
            assert resp.status_code in (200, 400), (path, params, resp.status_code, resp.text[:300])
        for path in (f"/api/sessions/{_quote(ident)}", f"/sessions/{_quote(ident)}"):
            resp = http.get(path, headers=AUTH)
            assert resp.status_code in (200, 307, 404), (path, resp.status_code, resp.text[:300])

    try:
        sessions()
        events()
        close()
        reads()
    finally:
        http.close()
    # the store all those bodies made: every CLI command and every page over it
    ids = [s["id"] for s in Store(server.db_path, readonly=True).list_sessions(SessionFilter(limit=-1))]
    every_cli_command(server.db_path, [seed])
    every_page(server.url, ids[:10], AUTH)
    # the budget reached both sides of every route
    for route, codes in seen.items():
        assert {200, 201} & set(codes) and 400 in codes, (route, codes)
    print({route: {c: codes.count(c) for c in sorted(set(codes))} for route, codes in seen.items()})


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s.encode("utf-8", "surrogatepass"), safe="")
