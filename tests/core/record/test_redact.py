"""Redaction against a corpus of secret shapes and of look-alikes that must survive untouched.

The corpus (``redaction_corpus.json``): secrets in text (tokens of every length, ``key=value``, ``key: value``
and JSON forms, URL user-info, PEM blocks, cloud and provider keys, JWTs), secret mapping keys, and
look-alikes (ordinary words, ids, hashes in prose). Precision and recall are printed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sentrial_integrations.core.record.redact import REDACTED, Redactor, is_secret_key, redact_text
from sentrial_integrations.core.record.serialize import Converter, Limits

CORPUS = json.loads((Path(__file__).with_name("redaction_corpus.json")).read_text(encoding="utf-8"))


def _scores() -> tuple[list[str], list[str], float, float]:
    missed = [c["text"] for c in CORPUS["secrets"] if c["secret"] in redact_text(c["text"])]
    missed += [k for k in CORPUS["secret_keys"] if not is_secret_key(k)]
    touched = [t for t in CORPUS["lookalikes"] if redact_text(t) != t]
    touched += [k for k in CORPUS["lookalike_keys"] if is_secret_key(k)]
    positives = len(CORPUS["secrets"]) + len(CORPUS["secret_keys"])
    caught = positives - len(missed)
    recall = caught / positives
    precision = caught / (caught + len(touched)) if caught + len(touched) else 1.0
    return missed, touched, precision, recall


def test_corpus_every_secret_caught_no_lookalike_touched():
    missed, touched, precision, recall = _scores()
    n_secrets = len(CORPUS["secrets"]) + len(CORPUS["secret_keys"])
    n_look = len(CORPUS["lookalikes"]) + len(CORPUS["lookalike_keys"])
    print(
        f"\nredaction corpus: {n_secrets} secrets, {n_look} look-alikes: "
        f"precision {precision:.1%}, recall {recall:.1%}"
    )
    assert missed == []
    assert touched == []


def test_masks_keep_the_context_readable():
    assert redact_text("password=hunter2") == f"password={REDACTED}"
    assert redact_text('{"password": "hunter 2"}') == f'{{"password": "{REDACTED}"}}'
    assert redact_text("postgres://admin:hunter2@host/db") == f"postgres://admin:{REDACTED}@host/db"
    assert redact_text("Authorization: Bearer abc.def.ghi") == f"Authorization: {REDACTED}"
    assert redact_text(f"password={REDACTED}") == f"password={REDACTED}"  # idempotent


def test_every_field_shape_through_the_converter():
    """The record builder's one walk: values in nested data, short strings and secret keys."""
    conv = Converter(Limits(), Redactor())
    data = {
        "pw": "hunter2",
        "pass": "hunter2",
        "private": "hunter2",
        "key": "hunter2",
        "nested": [{"note": "password: hunter2"}, "pw=hunter2", ("dsn", "postgres://admin:hunter2@h/db")],
        "sort_key": "name",
        "token_count": 12,
    }
    out = conv.convert(data)
    assert "hunter2" not in json.dumps(out)
    assert out["sort_key"] == "name" and out["token_count"] == 12


# --- end to end: the issue's secrets never reach a destination or a log ----------------------------------

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAzQ8pemSECRETBODY\n-----END RSA PRIVATE KEY-----"
LEAKS = ("hunter2", "abc.def.ghi", "wJalrXUtnFEMI", "SHORT12", "pemSECRETBODY")


def _record_everything(client) -> str:
    sid = client.create_session(
        "secrets",
        metadata={
            "pw": "hunter2",
            "pass": "hunter2",
            "private": "hunter2",
            "key": "hunter2",
            "note": "password=hunter2",
        },
    )
    client.track_tool_call(
        sid,
        "db",
        {"dsn": "postgres://admin:hunter2@host/db", "headers": {"Authorization": "Bearer abc.def.ghi"}},
        {"env": "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "k": "sk-live-SHORT12"},
        reasoning="retry with password: hunter2",
        metadata={"q": "password: hunter2"},
    )
    try:
        raise ValueError("login failed: password=hunter2 at postgres://admin:hunter2@host/db")
    except ValueError as exc:
        client.track_error(sid, exc)
    client.track_llm_call(
        sid,
        "gpt-4o",
        provider="openai",
        messages=[{"role": "user", "content": f"my key is sk-live-SHORT12 and {PEM}"}],
        response="Authorization: Bearer abc.def.ghi",
        prompt_tokens=3,
        completion_tokens=2,
    )
    client.track_decision(sid, "password: hunter2", decision="pass=hunter2", alternatives=["pw=hunter2"])
    client.close_session(
        sid, "failure", failure_reason="postgres://admin:hunter2@host/db refused", output="sk-live-SHORT12"
    )
    return sid


def _assert_clean(where: str, text: str) -> None:
    found = [s for s in LEAKS if s in text]
    assert not found, f"{found} in {where}"


def test_issue_secrets_absent_from_store_wire_otlp_and_debug_logs(tmp_path, sentrial_api, caplog):
    import sqlite3

    from sentrial_integrations import SentrialClient
    from sentrial_integrations.core.log import logger, register_secret
    from tests.servers.otlp_receiver import OTLPReceiver

    caplog.set_level(logging.DEBUG, logger="sentrial_integrations")
    with OTLPReceiver() as rx:
        local = SentrialClient(
            local_path=str(tmp_path / "s.db"), spool_path=str(tmp_path / "spool1"), otlp_endpoint=rx.url
        )
        _record_everything(local)
        assert local.flush(15)
        local.shutdown(5)
        assert rx.wait_for(lambda spans: any(s.name.startswith("invoke_agent") for s in spans))
        otlp_text = json.dumps(
            [(s.name, s.attributes, s.events, s.status_message) for s in rx.spans], default=str
        )
    remote = SentrialClient(
        api_key="test-key", base_url=sentrial_api.url, spool_path=str(tmp_path / "spool2")
    )
    _record_everything(remote)
    assert remote.flush(15)
    remote.shutdown(5)

    conn = sqlite3.connect(str(tmp_path / "s.db"))
    store_text = "\n".join(conn.iterdump())
    conn.close()
    assert "failure_reason" in store_text and "[REDACTED]" in store_text  # the data is there, masked
    wire_text = json.dumps([r.get("body") for r in sentrial_api.requests], default=str)
    assert "db" in wire_text and "[REDACTED]" in wire_text

    # URL credentials and registered keys in the library's own log lines
    register_secret("test-key-registered")
    logger.debug(
        "sending to %s with %s", "https://admin:hunter2@collector.example/v1/traces", "test-key-registered"
    )
    logging.getLogger("sentrial_integrations.server").warning("base_url=%s", "http://u:hunter2@10.0.0.1/")
    assert "collector.example" in caplog.text and "test-key-registered" not in caplog.text

    _assert_clean("the store", store_text)
    _assert_clean("OTLP bodies", otlp_text)
    _assert_clean("wire bodies", wire_text)
    _assert_clean("logs", caplog.text)


def test_scrub_while_secrets_are_registered_concurrently(monkeypatch):
    """register_secret rebinds a new tuple (copy-on-write): scrub never sees the list change under it."""
    import threading

    from sentrial_integrations.core import log

    monkeypatch.setattr(log, "_secrets", log._secrets)  # restored afterwards
    errors: list[BaseException] = []
    done = threading.Event()
    keys = [f"race-secret-{i:05d}" for i in range(1500)]

    def register(part: list[str]) -> None:
        try:
            for k in part:
                log.register_secret(k)
        except BaseException as exc:  # pragma: no cover - the bug this test guards against
            errors.append(exc)

    def scrub_loop() -> None:
        try:
            while not done.is_set():
                log.scrub("nothing secret here, and race-secret-00001")
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    scrubbers = [threading.Thread(target=scrub_loop) for _ in range(3)]
    writers = [threading.Thread(target=register, args=(keys[i::3],)) for i in range(3)]
    for t in scrubbers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in scrubbers:
        t.join()
    assert errors == []
    assert log.scrub(" ".join(keys)).split() == ["[REDACTED]"] * len(keys)
