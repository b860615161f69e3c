"""Files people hand metpost or have it write: a file is written whole or not at all, and a
file read must be a regular file (never a pipe or a device that would block or never end)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path


class NotAFileError(OSError):
    """The path names something other than a regular file; ``kind`` says what, as in "it is
    a folder"."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a file")
        self.kind = kind


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def write_whole(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` so that a reader sees the old file or the new one,
    never half of one: it is written beside the file, flushed to disk, then renamed over it.

    A symbolic link is written through, to the file it points at, and stays a link. What is
    there must be a regular file, or nothing: renaming over a device (``/dev/null``), a FIFO
    or a socket would replace it with a file (as root, breaking the machine), so those are
    refused with ``NotAFileError``. An existing file keeps its permissions; a new one gets
    the usual ones (0666 less the umask). Returns the path written.
    """
    target, mode = file_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    temporary = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
    # Made with 0666, which the umask trims, as any new file's; an existing one's mode after.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target


def file_target(path: Path) -> tuple[Path, int | None]:
    """The file that writing ``path`` writes (a link's target), and its permissions if it
    exists; ``NotAFileError`` if something other than a regular file is there. Checked by
    ``write_whole``, and by the command line as it is read (``--html``, ``--plan``)."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        found = os.stat(target).st_mode
    except FileNotFoundError:
        return target, None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotAFileError(path, "a loop of symbolic links") from None
        raise
    if not stat.S_ISREG(found):
        raise NotAFileError(path, _kind(found))
    return target, stat.S_IMODE(found)


def read_regular_file(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of the regular file at ``path`` (a link is followed).

    Anything else is refused with ``NotAFileError`` without blocking: a named pipe would wait
    for a writer forever, and a device may never end. It is looked at before it is opened
    (opening some devices does something), and what was opened is looked at again, without
    waiting (``O_NONBLOCK``), in case it was swapped for another kind in between. A missing
    file raises ``FileNotFoundError``."""
    file_target(path)
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(handle, "rb") as stream:
        found = os.fstat(stream.fileno()).st_mode
        if not stat.S_ISREG(found):
            raise NotAFileError(path, _kind(found))
        return stream.read(limit)
