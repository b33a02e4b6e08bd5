"""``core/model.py``: error_info, event ids, the fork suffix and the constants every layer reads."""

from __future__ import annotations

import os

from sentrial_integrations.core import model as M


class _HttpError(Exception):
    status_code = 429


class _BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_error_info_of_an_exception_has_message_type_and_stack():
    info = M.error_info(_raised(ValueError("bad input")))
    assert info is not None
    assert info["message"] == "bad input" and info["type"] == "ValueError"
    assert "Traceback" in info["stack_trace"] and "ValueError: bad input" in info["stack_trace"]
    assert "status_code" not in info


def test_error_info_of_an_exception_without_stack_and_with_a_type_override():
    info = M.error_info(ValueError("x"), "CustomType", with_stack=False)
    assert info == {"message": "x", "type": "CustomType"}


def test_error_info_keeps_an_integer_status_code():
    info = M.error_info(_HttpError("rate limited"), with_stack=False)
    assert info == {"message": "rate limited", "type": "_HttpError", "status_code": 429}


def test_error_info_of_an_exception_whose_str_fails():
    info = M.error_info(_BadStr(), with_stack=False)
    assert info == {"message": "<_BadStr: str() failed>", "type": "_BadStr"}


def test_error_info_of_a_string():
    assert M.error_info("boom") == {"message": "boom", "type": "Error"}
    assert M.error_info("boom", "Timeout") == {"message": "boom", "type": "Timeout"}


def test_error_info_of_a_dict_fills_message_and_type_and_copies():
    src = {"code": 7}
    info = M.error_info(src)
    assert info == {"code": 7, "message": "", "type": "Error"}
    assert src == {"code": 7}  # the caller's dict is not changed
    assert M.error_info({"message": "m", "type": "T"}) == {"message": "m", "type": "T"}
    assert M.error_info({"message": "m", "type": "T"}, "Override") == {"message": "m", "type": "Override"}


def test_error_info_of_other_values_and_none():
    assert M.error_info(None) is None
    assert M.error_info(42) == {"message": "42", "type": "Error"}


def test_event_id_and_fork_suffix():
    assert M.event_id("ses_abc", 7) == "ses_abc.7"
    assert M.event_id("ses_abc", 0) == "ses_abc.0"
    assert M.fork_suffix() == f"-{os.getpid()}"
    assert M.event_id("ses_abc", 7) + M.fork_suffix() == f"ses_abc.7-{os.getpid()}"


def test_status_constants_are_consistent():
    assert set(M.STATUSES) <= set(M.ALL_STATUSES)
    assert (M.RUNNING, *M.STATUSES) == M.ALL_STATUSES
    assert M.RUNNING not in M.STATUSES
    assert len(set(M.ALL_STATUSES)) == len(M.ALL_STATUSES)
    assert M.STATUSES == ("success", "failure", "error", "timeout", "abandoned")
    assert M.ERROR in M.STATUSES and M.ERROR in M.EVENT_TYPES  # "error" doubles as an event type


def test_record_kinds_and_event_types():
    assert M.RECORD_KINDS == ("session_start", "event", "session_close")
    assert M.RECORD_KINDS == (M.START_RECORD, M.EVENT_RECORD, M.CLOSE_RECORD)
    assert M.EVENT_TYPES == ("tool_call", "decision", "llm_call", "error", "state_change")
    assert len({M.SESSION_START, M.EVENT, M.SESSION_CLOSE, M.MARKER}) == 4
    assert M.LLM_ERROR_PREFIX == "llm:"


def test_typed_dicts_name_the_fields_of_the_three_record_shapes():
    start = set(M.SessionStartRecord.__annotations__)
    event = set(M.EventRecord.__annotations__)
    close = set(M.SessionCloseRecord.__annotations__)
    assert {"kind", "session_id", "name", "metadata", "ts"} <= start
    assert {"kind", "id", "session_id", "seq", "type", "ts", "cost_source", "unpriced"} <= event
    assert {"kind", "session_id", "seq", "status", "unpriced_calls"} <= close
    assert "event_count" not in close  # the store counts events itself; the close record never had it
    # every bulky field the size cap may cut is a field of some record
    assert set(M.BULKY_FIELDS) <= start | event | close
