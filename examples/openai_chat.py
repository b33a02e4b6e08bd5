"""Trace an OpenAI agent with one line: ``client = wrap_openai(OpenAI())``.

Run it against the real API::

    export OPENAI_API_KEY=sk-...            # required; without it the script explains and exits 0
    export OPENAI_MODEL=gpt-4o-mini          # optional (default gpt-4o-mini)
    export OPENAI_BASE_URL=...               # optional: any OpenAI-compatible server (read by the SDK)
    python examples/openai_chat.py

Where the events go: with ``SENTRIAL_API_KEY`` set, to the Sentrial API; otherwise to the embedded
SQLite store (``SENTRIAL_LOCAL_PATH``, default: the per-user store, see README), which this script reads
back and prints at the end.

It makes three calls inside one session: a plain chat completion, a streamed one (the stream's usage
is recorded even though the loop below never sees a usage chunk), and one that calls a tool (recorded
as an LLM call plus a decision event).
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    if not os.environ.get("OPENAI_API_KEY"):
        print(
            "OPENAI_API_KEY is not set, so nothing was called.\n"
            "Set it (and optionally OPENAI_MODEL / OPENAI_BASE_URL) and run again:\n"
            "    OPENAI_API_KEY=sk-... python examples/openai_chat.py\n"
            "The script then records one Sentrial session with three LLM calls (plain, streamed, tool call)."
        )
        return 0

    from openai import OpenAI

    from sentrial_integrations import get_client
    from sentrial_integrations.openai import wrap_openai

    sentrial = get_client()
    client = wrap_openai(OpenAI())  # the one line
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    messages = [{"role": "user", "content": "In one sentence: what is a tracing SDK?"}]

    with sentrial.session("openai-example", metadata={"example": "openai_chat"}) as session:
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=80)
        print("plain:   ", reply.choices[0].message.content)

        print("streamed: ", end="")
        for chunk in client.chat.completions.create(
            model=model, messages=messages, stream=True, max_tokens=80
        ):
            print(
                chunk.choices[0].delta.content or "", end="", flush=True
            )  # no usage chunk reaches this loop
        print()

        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ]
        tool_reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "What's the weather in Paris?"}],
            tools=tools,
        )
        calls = tool_reply.choices[0].message.tool_calls or []
        print("tool calls:", [(c.function.name, c.function.arguments) for c in calls])

    if not sentrial.flush(10):
        print("warning: not everything was delivered within 10 s", file=sys.stderr)

    if sentrial.config.mode == "http":
        print(f"\nSent to the Sentrial API at {sentrial.config.base_url}, session {session.id}")
        return 0

    from sentrial_integrations.core.store import Store

    store = Store(sentrial.config.local_path)
    print(f"\nRecorded in {sentrial.config.local_path}:")
    for event in store.get_events(session.id):
        line = {k: event[k] for k in ("type", "name", "total_tokens", "cost", "duration_ms") if event.get(k)}
        print("  ", json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
