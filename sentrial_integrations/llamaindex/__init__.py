"""LlamaIndex integration: one line records every query engine, chat engine, retriever, agent and
workflow run as a Sentrial session.

    from sentrial_integrations.llamaindex import instrument
    instrument()

Uses LlamaIndex's instrumentation dispatcher (a span handler and an event handler on the root
dispatcher); targets llama-index-core 0.14.
"""

from .instrument import instrument, is_instrumented, last_session_id, uninstrument

__all__ = ["instrument", "is_instrumented", "last_session_id", "uninstrument"]
