"""Shared pieces for the replay tests: a LangChain ``create_agent`` weather agent on ChatOpenAI, pointed
at the scripted OpenAI server, and what a session's step sequence looks like."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from sentrial_integrations.core.store import Store
from sentrial_integrations.langchain import SentrialCallbackHandler
from tests.servers.openai_server import chat

QUESTION = {"messages": [("user", "weather in Paris?")]}
FINAL = "It is sunny in Paris today"

_weather = {"Paris": "sunny in Paris"}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return _weather.get(city, f"no idea about {city}")


@tool
def get_rain(city: str) -> str:
    """The chance of rain in a city."""
    return f"no rain in {city}"


def script_weather(server: Any) -> None:
    server.script(
        chat(
            tool_calls=[("get_weather", {"city": "Paris"}, "call_1")], prompt_tokens=12, completion_tokens=5
        ),
        chat(FINAL, prompt_tokens=30, completion_tokens=6, cached_tokens=10),
    )


def weather_agent(url: str, *, system_prompt: str = "be brief", tools: Any = None, **model_kw: Any) -> Any:
    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=url, api_key="sk-test", max_retries=0, temperature=0, **model_kw
    )
    return create_agent(model, tools or [get_weather], name="weather_agent", system_prompt=system_prompt)


def run(agent: Any, client: Any) -> Any:
    return agent.invoke(QUESTION, config={"callbacks": [SentrialCallbackHandler(client)]})


def steps(store: Store, sid: str) -> list[tuple[str, str]]:
    return [(e["type"], e["name"]) for e in store.get_events(sid)]


def session_ids(store: Store) -> list[str]:
    """Sessions oldest first."""
    return [s["id"] for s in reversed(store.list_sessions())]
