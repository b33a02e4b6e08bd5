"""Files that hold recorded data (the store, the outbox, exports): created 0600, never someone else's.

A file that already exists is used only when it is a regular file (not a symlink), owned by the current
user and not writable by group or others; otherwise :class:`UnsafeFileError` says which file, why, and
what to do. This defeats another local user who pre-creates the file (0666, or a symlink to a file they can
read) in a shared directory to read what gets recorded.
"""

from __future__ import annotations

import os
import stat
from typing import IO

PRIVATE_MODE = 0o600


class UnsafeFileError(OSError):
    """A pre-existing file is a symlink, belongs to another user, or is writable by group or others."""


def check_private(path: str) -> None:
    """Raise :class:`UnsafeFileError` if ``path`` exists and is not safe to hold recorded data."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    problem = _problem(st)
    if problem:
        raise UnsafeFileError(f"refusing to use {path}: {problem}; {_fix(problem, path)}")


def _problem(st: os.stat_result) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    uid = getattr(os, "geteuid", None)
    if uid is not None and st.st_uid != uid():
        return f"it belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        who = {0o022: "group and others", 0o002: "others", 0o020: "group"}[st.st_mode & 0o022]
        return f"it is writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _fix(problem: str, path: str) -> str:
    if problem.startswith("it is writable"):
        return f"if it is yours, make it private (chmod 600 {path}), or choose another path"
    return "remove it if it is not yours, or choose another path"


def ensure_private_file(path: str) -> None:
    """Create ``path`` (and its directory, 0700) as an empty 0600 file, or check the file already there."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(path, flags, PRIVATE_MODE))
    except FileExistsError:
        check_private(path)
    for suffix in ("-wal", "-shm", "-journal"):  # SQLite's side files, if someone left them there
        check_private(path + suffix)


def open_private(path: str, encoding: str = "utf-8") -> IO[str]:
    """Open ``path`` for writing text: a new file is created 0600; an existing one must pass the checks."""
    check_private(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        problem = _problem(os.fstat(fd))  # what was opened (not a file swapped in after the check)
        if problem:
            raise UnsafeFileError(f"refusing to use {path}: {problem}; {_fix(problem, path)}")
        return os.fdopen(fd, "w", encoding=encoding)
    except BaseException:
        os.close(fd)
        raise
