"""Files memwarden creates (``file:`` outputs, recordings, the installed config, simulate's
report) and the mode they are created with.

Findings and recordings name processes, paths, users and whole command lines: created under the
usual umask (022) they would be world-readable (0644). They are created 0600 instead, unless
the user chooses another mode (``file_mode:`` in the config file, ``--file-mode`` on the
detecting commands), e.g. 0640 for a log-reading group. The mode applies when a file is
created; an existing file keeps its mode (the user set it). A stricter umask still narrows it.
"""

from __future__ import annotations

import os
from typing import IO

__all__ = ["DEFAULT_FILE_MODE", "format_file_mode", "open_created", "parse_file_mode"]

DEFAULT_FILE_MODE = 0o600


def parse_file_mode(value: object) -> int:
    """A mode written ``"0640"``, ``"640"`` or ``0o640`` (octal digits, at most 0777) or an
    integer (YAML reads 0640 as octal already); raises ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError(f"expected an octal mode such as 0600, got {value!r}")
    if isinstance(value, int):
        mode = value
    elif isinstance(value, str) and value.isascii():
        text = value.removeprefix("0o")
        if not text or any(c not in "01234567" for c in text):
            raise ValueError(f"expected an octal mode such as 0600, got {value!r}")
        mode = int(text, 8)
    else:
        raise ValueError(f"expected an octal mode such as 0600, got {value!r}")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"expected a mode between 0000 and 0777, got {value!r}")
    return mode


def format_file_mode(mode: int) -> str:
    return f"{mode:04o}"


def open_created(path: str, *, append: bool, mode: int = DEFAULT_FILE_MODE) -> IO[bytes]:
    """Open ``path`` for binary writing (appending, or truncating), creating it with ``mode``
    if it does not exist; raises ``OSError``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    try:
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise
