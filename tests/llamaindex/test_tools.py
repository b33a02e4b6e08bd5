"""Tool spans: one tool_call per call, whichever entry point (``__call__``, ``call``, ``acall``)."""

from __future__ import annotations

import pytest
from llama_index.core.tools import FunctionTool

from tests.llamaindex.conftest import brief, events, sessions


def multiply(a: int, b: int) -> int:
    """Multiply two numbers."""
    return a * b


async def test_each_entry_point_records_one_call(li_client):
    tool = FunctionTool.from_defaults(multiply)
    with li_client.session("tools") as s:
        assert tool(a=2, b=3).raw_output == 6  # __call__ -> call: one event
        assert tool.call(a=4, b=5).raw_output == 20
        assert (await tool.acall(a=6, b=7)).raw_output == 42
    evs = events(li_client, s.id)
    assert [brief(e) for e in evs] == [("tool_call", "multiply")] * 3
    assert [(e["input"], e["output"]) for e in evs] == [
        ({"a": 2, "b": 3}, 6),
        ({"a": 4, "b": 5}, 20),
        ({"a": 6, "b": 7}, 42),
    ]
    assert [e["span_id"].split("-")[0] for e in evs] == [
        "FunctionTool.__call__",
        "FunctionTool.call",
        "FunctionTool.acall",
    ]


def test_tool_outside_any_run_records_nothing(li_client):
    assert FunctionTool.from_defaults(multiply).call(a=1, b=1).raw_output == 1
    assert sessions(li_client) == []


def test_tool_error_inside_a_session(li_client):
    def fail() -> str:
        """Fails."""
        raise KeyError("missing")

    tool = FunctionTool.from_defaults(fail)
    with li_client.session("tools") as s, pytest.raises(KeyError):
        tool.call()
    evs = events(li_client, s.id)
    assert [brief(e) for e in evs] == [("tool_call", "fail"), ("error", "fail")]
    assert evs[0]["input"] == {} and evs[0]["output"] is None
    assert evs[0]["error"]["type"] == "KeyError"
    assert evs[1]["parent_span_id"] == evs[0]["span_id"]
