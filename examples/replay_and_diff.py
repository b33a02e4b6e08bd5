"""Record a LangChain agent, export the recording, change the agent's code, re-run it offline and diff.

    python examples/replay_and_diff.py          # from the repository root

The agent is LangChain's ``create_agent`` on ``ChatOpenAI``, recorded against the scripted
OpenAI-compatible server of the test suite (tests/servers/openai_server.py), so no API key is needed.
Everything goes to a temporary store; the exported recording is ``weather.json`` in a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for tests.servers

from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from sentrial_integrations import ReplayMismatch, SentrialClient, replay
from sentrial_integrations.cli import main as cli
from sentrial_integrations.langchain import SentrialCallbackHandler
from tests.servers.openai_server import ScriptedOpenAIServer, chat

FORECAST = {"Paris": "sunny"}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"{FORECAST.get(city, 'unknown')} in {city}"


def build_agent(url: str) -> object:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=url, api_key="sk-test", max_retries=0)
    return create_agent(model, [get_weather], name="weather_agent", system_prompt="be brief")


def ask(agent: object, client: SentrialClient) -> str:
    config = {"callbacks": [SentrialCallbackHandler(client)]}
    result = agent.invoke({"messages": [("user", "weather in Paris?")]}, config=config)  # type: ignore[attr-defined]
    return str(result["messages"][-1].content)


def main() -> None:
    folder = tempfile.mkdtemp(prefix="sentrial-replay-")
    db = os.path.join(folder, "sentrial.db")
    client = SentrialClient(local_path=db, spool_path=os.path.join(folder, "spool"))

    # 1. Record a run against the (scripted) provider.
    with ScriptedOpenAIServer() as server:
        server.script(
            chat(tool_calls=[("get_weather", {"city": "Paris"}, "call_1")]),
            chat("It is sunny in Paris today"),
        )
        url = server.url
        print("recorded:", ask(build_agent(url), client))
    client.flush(10)
    original = client_session_ids(db)[0]

    # 2. Export it: the file can live in the repository as a test fixture.
    recording = os.path.join(folder, "weather.json")
    cli(["--db", db, "export", original, "-o", recording])

    # 3. Re-run offline (the server is gone): the LLM answers come from the recording, tools run live.
    with replay(recording, client=client, on_mismatch="raise") as rp:
        print("replayed:", ask(build_agent(url), client), f"(answered from steps {rp.served})")
    client.flush(10)
    print("diff exit status:", cli(["--db", db, "--no-color", "diff", recording, str(rp.session_id)]))

    # 4. Change the agent's code: the tool now says something else, so the second LLM call's prompt
    #    differs from the recording and the replay stops there.
    FORECAST["Paris"] = "rainy"
    try:
        with replay(recording, client=client, on_mismatch="raise"):
            ask(build_agent(url), client)
    except ReplayMismatch as exc:
        print(f"mismatch at step {exc.step}: {exc.difference}")

    # 5. Or let the run go live from the step that differs (here against a new scripted server), and
    #    see what changed and what it cost.
    with ScriptedOpenAIServer() as server:
        server.script(chat("Take an umbrella", prompt_tokens=40, completion_tokens=4))
        with replay(recording, client=client) as rp:
            answer = ask(build_agent(server.url), client)
        print(f"live from step {rp.live_at_step}:", answer)
    client.flush(10)
    print("diff exit status:", cli(["--db", db, "--no-color", "diff", recording, str(rp.session_id)]))
    client.shutdown(10)


def client_session_ids(db: str) -> list[str]:
    from sentrial_integrations.core.store import Store

    store = Store(db)
    try:
        return [s["id"] for s in store.list_sessions()]
    finally:
        store.close()


if __name__ == "__main__":
    main()
