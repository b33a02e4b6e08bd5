"""``parse()`` with a pydantic format, on chat completions and on the Responses API."""

from __future__ import annotations

import pytest
from openai.types.chat import ParsedChatCompletion
from openai.types.responses import ParsedResponse
from pydantic import BaseModel

from tests.conftest import only_session, read_store
from tests.openai.helpers import USER_MSG, expected_output, pop_timing, same_through_the_wrapper
from tests.servers.openai_server import chat, responses_api


class Answer(BaseModel):
    answer: int


CASES = {
    "chat": (
        chat('{"answer": 42}'),
        lambda c: c.chat.completions.parse(model="gpt-4o-mini", messages=USER_MSG, response_format=Answer),
        lambda out: isinstance(out, ParsedChatCompletion) and out.choices[0].message.parsed,
        {"response_format": {"type": "json_schema", "class": "Answer"}},
        "stop",
        "chat.completions.parse",
    ),
    "responses": (
        responses_api('{"answer": 42}'),
        lambda c: c.responses.parse(model="gpt-4o-mini", input="What is 6 x 7?", text_format=Answer),
        lambda out: isinstance(out, ParsedResponse) and out.output_parsed,
        {"text_format": {"type": "json_schema", "class": "Answer"}},
        "completed",
        "responses.parse",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_parse_with_a_pydantic_format(case, make_oai, openai_server, local_client):
    reply, call, parsed, params, finish_reason, operation = CASES[case]
    openai_server.script(reply, reply)
    out = same_through_the_wrapper(make_oai, local_client, call)
    assert parsed(out) == Answer(answer=42)

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["input"]["params"] == params
    assert pop_timing(event) == expected_output('{"answer": 42}', finish_reason=finish_reason)
    assert event["metadata"]["operation"] == operation
