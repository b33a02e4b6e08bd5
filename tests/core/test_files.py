"""Files that hold recorded data: created 0600 whatever the umask; a pre-existing store or export that is a
symlink, another user's, or group/world-writable is refused with one clear error naming the path and the fix."""

from __future__ import annotations

import os
import stat

import pytest

from sentrial_integrations.core.files import UnsafeFileError, check_private, ensure_private_file, open_private
from sentrial_integrations.core.store import Store, StoreError
from tests.readers import run_cli

OTHER_UID = 4242


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_new_files_are_private_under_umask_000(tmp_path, open_umask):
    store_path = tmp_path / "new" / "s.db"
    Store(str(store_path)).close()
    assert _mode(store_path) == 0o600
    assert stat.S_IMODE(os.stat(store_path.parent).st_mode) == 0o700
    with open_private(str(tmp_path / "export.json")) as fh:
        fh.write("{}")
    assert _mode(tmp_path / "export.json") == 0o600


def _foreign(path) -> None:
    path.write_text("")
    os.chown(path, OTHER_UID, -1)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: (p.write_text(""), os.chmod(p, 0o666)), "writable by group and others"),
        (lambda p: (p.write_text(""), os.chmod(p, 0o620)), "writable by group"),
        (
            lambda p: (p.parent.joinpath("target").write_text(""), p.symlink_to(p.parent / "target")),
            "symbolic link",
        ),
        (_foreign, "belongs to another user"),
    ],
)
def test_unsafe_pre_existing_store_is_refused(tmp_path, make, reason):
    if reason == "belongs to another user" and os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root")
    path = tmp_path / "shared.db"
    make(path)
    with pytest.raises(StoreError) as err:
        Store(str(path))
    message = str(err.value)
    assert str(path) in message and reason in message
    assert "remove it" in message or "chmod 600" in message
    with pytest.raises(UnsafeFileError):
        check_private(str(path))
    # nothing was written into the foreign file
    assert os.path.getsize(path.resolve()) == 0


def test_export_refuses_unsafe_files_and_creates_private_ones(tmp_path, open_umask):
    db = tmp_path / "s.db"
    store = Store(str(db))
    store.ingest([{"kind": "session_start", "session_id": "sess_1", "name": "n", "metadata": {}, "ts": 1.0}])
    store.close()
    out = tmp_path / "out.json"
    code, _, err = run_cli("--db", str(db), "export", "sess_1", "-o", str(out))
    assert code == 0, err
    assert _mode(out) == 0o600 and '"sess_1"' in out.read_text()

    target = tmp_path / "theirs.txt"
    target.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    code, _, err = run_cli("--db", str(db), "export", "sess_1", "-o", str(link))
    assert code == 1 and err.count("\n") == 1
    assert str(link) in err and "symbolic link" in err
    assert target.read_text() == "keep"


def test_sqlite_side_files_are_checked(tmp_path):
    path = tmp_path / "s.db"
    wal = tmp_path / "s.db-wal"
    wal.write_text("")
    os.chmod(wal, 0o666)
    with pytest.raises(UnsafeFileError) as err:
        ensure_private_file(str(path))
    assert str(wal) in str(err.value)
