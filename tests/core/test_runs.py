"""``core/runs.py``: where an integration run records (explicit session, LLM claim, current session, or a
session of its own) and which sessions a run closes, against a real local client and its store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentrial_integrations import SentrialClient
from sentrial_integrations.core import context as ctx
from sentrial_integrations.core.api.client import Session, get_client
from sentrial_integrations.core.runs import RunTarget, open_run
from sentrial_integrations.core.store import Store


@pytest.fixture
def client(tmp_path) -> Iterator[SentrialClient]:
    c = SentrialClient(local_path=str(tmp_path / "local.db"))
    yield c
    c.shutdown(5)


@pytest.fixture
def read(client):
    """Commit what the client recorded and open its store."""
    opened: list[Store] = []

    def _read() -> Store:
        assert client.persist(10)
        assert client.config.local_path is not None
        store = Store(client.config.local_path)
        opened.append(store)
        return store

    yield _read
    for store in opened:
        store.close()


def _names(store: Store) -> list[str]:
    return sorted(s["name"] for s in store.list_sessions())


# --- an explicit session --------------------------------------------------------------------------


def test_an_explicit_session_object_is_joined(client, read):
    outer = client.session("outer")
    target = open_run(client, "run", session=outer)
    assert target.session is outer and target.session_id == outer.id and not target.owned
    assert target.client is client
    target.session.track_tool_call("t", {"x": 1})
    target.close("failure")  # not the run's own session: left open
    assert client.is_open(outer.id) and not outer.closed
    outer.close()
    store = read()
    assert _names(store) == ["outer"]
    assert store.get_session(outer.id)["status"] == "success"
    assert [e["name"] for e in store.get_events(outer.id)] == ["t"]


def test_an_explicit_session_id_is_joined(client, read):
    sid = client.create_session("by id")
    target = open_run(client, "run name", session=sid)
    assert isinstance(target.session, Session) and not target.owned
    assert (target.session_id, target.session.name, target.client) == (sid, "run name", client)
    target.session.track_decision("go")
    target.close()
    assert client.is_open(sid)
    client.close_session(sid)
    store = read()
    assert _names(store) == ["by id"]
    assert [e["type"] for e in store.get_events(sid)] == ["decision"]


def test_an_explicit_session_beats_a_claim_and_the_current_session(client):
    named, claimed, current = client.session("named"), client.session("claimed"), client.session("current")
    claim = ctx.LLMClaim(claimed, "span-1", None)
    with current:
        target = open_run(client, "run", session=named, claim=claim)
    assert target.session is named


# --- an LLM claim ---------------------------------------------------------------------------------


def test_the_session_of_a_taken_llm_claim_is_joined(client):
    outer = client.session("chat model run")
    claim = ctx.LLMClaim(outer, "span-llm", "span-chain")
    token = ctx.open_llm_claim(claim)
    try:
        taken = ctx.take_llm_claim()
        assert taken is claim and claim.taken and ctx.take_llm_claim() is None
        with client.session("another block"):  # the claim wins over the current session
            target = open_run(client, "openai call", claim=taken)
    finally:
        ctx.close_llm_claim(token)
    assert target.session is outer and not target.owned
    target.close()
    assert client.is_open(outer.id)


def test_a_claim_whose_session_closed_is_not_joined(client, read):
    gone = client.session("closed already")
    gone.close()
    target = open_run(client, "fresh", claim=ctx.LLMClaim(gone, None, None))
    assert target.owned and target.session_id != gone.id
    target.close()
    store = read()
    assert _names(store) == ["closed already", "fresh"]


def test_a_claim_without_session_falls_through_to_the_current_one(client):
    with client.session("block") as block:
        target = open_run(client, "run", claim=ctx.LLMClaim(None, "s", None))
    assert target.session is block and not target.owned


# --- the current session --------------------------------------------------------------------------


def test_the_current_session_block_is_joined(client, read):
    with client.session("block") as block:
        target = open_run(client, "inner run", integration="langchain")
        assert target.session is block and not target.owned
        target.session.track_tool_call("inside")
        target.close()
        assert client.is_open(block.id)  # the block closes it, not the run
    store = read()
    assert _names(store) == ["block"]
    assert store.get_session(block.id)["event_count"] == 1


def test_join_current_false_opens_a_session_even_inside_a_block(client, read):
    with client.session("block") as block:
        target = open_run(client, "own", join_current=False)
        assert target.owned and target.session_id != block.id
        target.close()
    store = read()
    assert _names(store) == ["block", "own"]


def test_a_current_run_of_the_same_integration_is_not_joined(client, read):
    outer = open_run(client, "outer run", integration="langchain")
    outer.make_current()
    try:
        assert ctx.current_session() is outer.session
        same = open_run(client, "unrelated top-level run", integration="langchain")
        other = open_run(client, "llamaindex inside", integration="llamaindex")
        anyone = open_run(client, "no integration named")
    finally:
        outer.release()
    assert same.owned and same.session_id != outer.session_id
    assert other.session is outer.session and not other.owned
    assert anyone.session is outer.session and not anyone.owned
    for t in (same, other, anyone, outer):
        t.close()
    store = read()
    assert _names(store) == ["outer run", "unrelated top-level run"]
    assert {s["status"] for s in store.list_sessions()} == {"success"}
    assert store.get_session(same.session_id)["parent_session_id"] is None  # not a child: unrelated


# --- a session of the run's own ---------------------------------------------------------------------


def test_a_new_owned_session_carries_name_metadata_agent_user_and_convo(client, read):
    target = open_run(
        client,
        "agent run",
        integration="langchain",
        metadata={"framework": "langchain", "tenant": "t1"},
        agent_name="weather_agent",
        user_id="u-42",
        convo_id="thread-7",
    )
    assert target.owned and target.client is client and client.is_open(target.session_id)
    assert target.session.name == "agent run" and target.session.opened_by == "langchain"
    assert isinstance(target.session, Session)
    target.session.track_tool_call("get_weather", {"city": "Oslo"}, "sunny")
    target.close("failure", failure_reason="tool broke", output="partial", custom_metrics={"steps": 3})
    assert target.session.closed and not client.is_open(target.session_id)
    store = read()
    s = store.get_session(target.session_id)
    assert (s["name"], s["agent_name"], s["user_id"], s["convo_id"]) == (
        "agent run",
        "weather_agent",
        "u-42",
        "thread-7",
    )
    assert s["metadata"] == {"framework": "langchain", "tenant": "t1"}
    assert (s["status"], s["failure_reason"], s["output"], s["custom_metrics"]) == (
        "failure",
        "tool broke",
        "partial",
        {"steps": 3},
    )
    assert [e["name"] for e in store.get_events(target.session_id)] == ["get_weather"]


def test_no_client_means_the_default_client(client):
    target = open_run(None, "default")
    try:
        assert target.client is get_client() and target.owned
        assert target.client.is_open(target.session_id)
    finally:
        target.close()
    assert not target.client.is_open(target.session_id)
    # an id with no client: a handle on the default client
    assert open_run(None, "x", session="ses_given").client is get_client()


# --- make_current / release / close -----------------------------------------------------------------


def test_make_current_and_release(client):
    assert ctx.current_session() is None
    target = open_run(client, "own")
    target.make_current()
    token = target.token
    target.make_current()  # once only
    assert target.token is token and ctx.current_session() is target.session
    target.release()
    assert target.token is None and ctx.current_session() is None
    target.release()  # idempotent
    assert ctx.current_session() is None
    target.close()


def test_release_restores_the_outer_session(client):
    with client.session("block") as block:
        own = open_run(client, "own", join_current=False)
        own.make_current()
        assert ctx.current_session() is own.session
        own.close()  # close releases too
        assert own.token is None and ctx.current_session() is block


def test_a_joined_session_is_never_made_current(client):
    outer = client.session("outer")
    target = open_run(client, "run", session=outer)
    target.make_current()
    assert target.token is None and ctx.current_session() is None


def test_close_leaves_a_session_someone_else_closed(client, read):
    target = open_run(client, "own")
    assert client.close_session(target.session_id, "timeout")
    target.close("success")  # already closed (e.g. shutdown() at exit): nothing more is recorded
    assert not target.session.closed  # the handle was not used to close it
    store = read()
    s = store.get_session(target.session_id)
    assert s["status"] == "timeout"


def test_close_twice_closes_once(client, read):
    target = open_run(client, "own")
    target.close("error", failure_reason="first")
    target.close("success")
    store = read()
    s = store.get_session(target.session_id)
    assert (s["status"], s["failure_reason"]) == ("error", "first")


def test_a_run_target_built_directly(client):
    s = client.session("direct")
    target = RunTarget(s, owned=True)
    assert (target.client, target.session_id, target.token) == (client, s.id, None)
    target.close("abandoned")
    assert s.closed and not client.is_open(s.id)
