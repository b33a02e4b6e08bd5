"""A LangChain agent recorded as one Sentrial session — runs offline.

    python examples/langchain_agent.py

The model is langchain-core's fake chat model scripted to call a tool and then answer, so no API key
or network is needed. The session goes to the embedded store (SENTRIAL_LOCAL_PATH, else
the per-user store, see README); the script prints its id and the command that shows it.
With a real model, only the ``model = ...`` line changes (e.g. ``ChatOpenAI(model="gpt-4o-mini")``).
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from sentrial_integrations import get_client
from sentrial_integrations.langchain import SentrialCallbackHandler, log_decision


class ChatScripted(GenericFakeChatModel):
    """Stands in for a real chat model: answers from a script, reports tokens like a provider."""

    model: str = "scripted-1"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ChatScripted:
        return self


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return {"paris": "18°C, sunny", "oslo": "3°C, snow"}.get(city.lower(), "unknown")


@tool
def suggest_outfit(weather: str) -> str:
    """What to wear for the given weather."""
    choice = "a coat" if "snow" in weather else "a light jacket"
    log_decision(
        f"weather is {weather!r}",
        decision={"outfit": choice},
        alternatives=["a coat", "a light jacket", "a t-shirt"],
        confidence=0.9,
    )
    return choice


def main() -> None:
    model = ChatScripted(
        messages=iter(
            [
                AIMessage(
                    "I need the weather in Paris first.",
                    tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
                    usage_metadata={"input_tokens": 42, "output_tokens": 12, "total_tokens": 54},
                ),
                AIMessage(
                    "",
                    tool_calls=[
                        {"name": "suggest_outfit", "args": {"weather": "18°C, sunny"}, "id": "call_2"}
                    ],
                    usage_metadata={"input_tokens": 70, "output_tokens": 9, "total_tokens": 79},
                ),
                AIMessage(
                    "It is 18°C and sunny in Paris: a light jacket will do.",
                    usage_metadata={"input_tokens": 95, "output_tokens": 15, "total_tokens": 110},
                ),
            ]
        )
    )
    agent = create_agent(
        model, [get_weather, suggest_outfit], name="travel_assistant", system_prompt="Be brief."
    )

    handler = SentrialCallbackHandler(metadata={"example": "langchain_agent"})  # the one line
    result = agent.invoke(
        {"messages": [("user", "What should I wear in Paris today?")]},
        config={"callbacks": [handler], "configurable": {"thread_id": "demo-thread"}},
    )
    print(result["messages"][-1].content)

    client = get_client()
    client.flush(10)  # at exit this happens on its own; here we want the session stored before printing
    session_id = handler.last_session_id
    print(f"session: {session_id}  (store: {client.config.local_path})")
    print(f"see it with: sentrial-integrations show {session_id}")


if __name__ == "__main__":
    main()
