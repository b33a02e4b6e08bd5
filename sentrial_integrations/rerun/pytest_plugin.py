"""pytest plugin: the ``sentrial_replay`` fixture, to run an agent against a recording kept in the
repository and assert on the re-run.

::

    def test_weather_agent_still_does_the_same(sentrial_replay):
        with sentrial_replay("tests/fixtures/weather.json", on_mismatch="raise") as rp:
            result = build_agent().invoke({"messages": [("user", "weather in Paris?")]})
        assert result["messages"][-1].content == "It is sunny in Paris today"
        sentrial_replay.assert_same_steps(rp)          # or: sentrial_replay.diff(rp)["equal"]
        events = sentrial_replay.events(rp)            # the re-run's events

The re-run is recorded by a client of its own, into a store in the test's temporary directory, so the
test neither needs nor touches the developer's store. Registered through the ``pytest11`` entry point
(``-p sentrial_integrations.rerun.pytest_plugin`` loads it by hand).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


class ReplayFixture:
    """What ``sentrial_replay`` gives a test: call it like :func:`sentrial_integrations.replay`."""

    def __init__(self, directory: str) -> None:
        from ..core.api.client import SentrialClient

        self.store_path = f"{directory}/sentrial-replay.db"
        self.client = SentrialClient(
            local_path=self.store_path, spool_path=f"{directory}/sentrial-replay-spool"
        )
        self.replays: list[Any] = []

    def __call__(self, recording: Any, **kwargs: Any) -> Any:
        from . import replay

        kwargs.setdefault("client", self.client)
        rp = replay(recording, **kwargs)
        self.replays.append(rp)
        return rp

    def _store(self) -> Any:
        from ..core.store import Store

        if not self.client.flush(30):
            raise AssertionError("sentrial_replay: the re-run was not written to the store in 30 s")
        return Store(self.store_path)

    def session(self, rp: Any) -> dict[str, Any]:
        """The re-run session (after its block ended)."""
        store = self._store()
        try:
            got = store.get_session(rp.session_id) if rp.session_id else None
        finally:
            store.close()
        if got is None:
            raise AssertionError("sentrial_replay: the re-run recorded no session (record=False?)")
        return got

    def events(self, rp: Any) -> list[dict[str, Any]]:
        """The re-run session's events, in step order."""
        store = self._store()
        try:
            return store.get_events(rp.session_id) if rp.session_id else []
        finally:
            store.close()

    def diff(self, rp: Any) -> dict[str, Any]:
        """:func:`sentrial_integrations.rerun.diff.diff_sessions` of the recording (A) and the re-run (B)."""
        from .diff import diff_sessions

        session = self.session(rp)
        return diff_sessions(rp.recording.session, rp.recording.events, session, self.events(rp))

    def assert_same_steps(self, rp: Any) -> None:
        """Fail unless the re-run has the recording's steps (type and name, in order)."""
        result = self.diff(rp)
        if not result["structurally_equal"]:
            first = result["first_structural_divergence"] or {}
            raise AssertionError(f"the re-run diverged from {rp.recording.id}: {first.get('summary')}")

    def close(self) -> None:
        self.client.shutdown(10)


@pytest.fixture
def sentrial_replay(tmp_path: Any) -> Iterator[ReplayFixture]:
    """Replay a recorded session (an id in the store, or an ``export`` file) and inspect the re-run."""
    fixture = ReplayFixture(str(tmp_path))
    try:
        yield fixture
    finally:
        fixture.close()
