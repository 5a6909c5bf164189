"""Reading and writing files: regular files only, and never half-written.

Every file skmnist reads (pictures, ``.npy`` arrays, MNIST's npz and IDX
files, joblib models) is opened with :func:`open_regular`: a regular file
(or a link to one) of at most a stated size. A FIFO, a device, a socket or a
folder is refused before anything is read, so a named pipe given as a
picture never blocks the command waiting for a writer, and ``/dev/zero`` is
never read until memory runs out.

Every file skmnist writes goes through :func:`atomic_path`: it is written
under a temporary name beside the target and renamed over it only once
complete. The target may be a new name or an existing regular file; a folder,
a FIFO, a device or a socket is refused, and so is a symbolic link to one (a
link to a regular file is followed: the file it points to is replaced, and the
link keeps pointing to it).

The temporary file is ``.<name>.<host>-<pid>-<random>.tmp``. It is removed
when the write fails, is interrupted (Ctrl-C) or is stopped by SIGTERM or
SIGHUP (in the main thread, where the signal's handler is the default one:
the file is removed, then the signal takes its usual effect). Only a process
killed outright (SIGKILL, a power cut) leaves one behind; the next successful
write of the same target removes it, once its process has ended (or, when it
was written by another machine, after an hour).
"""

import contextlib
import errno
import os
import re
import signal
import socket
import stat
import tempfile
import threading
import time
import zlib
from pathlib import Path

__all__ = [
    "atomic_path",
    "check_writable",
    "dump_atomic",
    "file_kind",
    "open_regular",
]

_TMP_SUFFIX = ".tmp"
# A leftover whose writer cannot be checked (another machine, an older skmnist)
# is removed once it has not changed for this long.
_STALE_SECONDS = 3600
_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def file_kind(mode):
    """What an ``os.stat`` mode says a path is, in words."""
    for test, kind in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return kind
    return "special file"


def open_regular(path, *, max_bytes, what="file"):
    """Open ``path`` for reading in binary mode: a regular file only, bounded.

    The one rule for every file skmnist reads. The file is opened without
    blocking and then checked on its open descriptor, so a FIFO is refused
    at once (rather than waiting for a writer) and a path swapped for
    something else between a check and the open cannot slip through.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read; a symbolic link to a regular file is followed.

    max_bytes : int
        Refuse larger files, unread: the bound on what reading it may cost.

    what : str, default="file"
        What the file should be, for the messages ("picture", "model file"...).

    Returns
    -------
    file : io.BufferedReader
        The open file, at its start; the caller closes it.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError
        If ``path`` does not exist, cannot be read, or is a folder.
    ValueError
        If ``path`` is a FIFO, a device or a socket (or a link to one), or
        holds more than ``max_bytes``.

    Examples
    --------
    >>> import os
    >>> from skmnist._utils.files import open_regular
    >>> with open("notes.txt", "wb") as f:
    ...     _ = f.write(b"digits")
    >>> with open_regular("notes.txt", max_bytes=100) as f:
    ...     f.read()
    b'digits'
    >>> os.mkfifo("pipe.png")
    >>> open_regular("pipe.png", max_bytes=100, what="picture")
    Traceback (most recent call last):
    ...
    ValueError: pipe.png: not a picture: not a regular file but a FIFO (named pipe)
    >>> open_regular("notes.txt", max_bytes=3)
    Traceback (most recent call last):
    ...
    ValueError: notes.txt: 6 bytes, more than the 3-byte limit for a file
    """
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer. It has no
    # effect on reading a regular file.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(
                errno.EISDIR, f"Is a folder, not a {what}", os.fspath(path)
            )
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(
                f"{os.fspath(path)}: not a {what}: not a regular file but a "
                f"{file_kind(info.st_mode)}"
            )
        if info.st_size > max_bytes:
            raise ValueError(
                f"{os.fspath(path)}: {info.st_size} bytes, more than the "
                f"{max_bytes}-byte limit for a {what}"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _target(path):
    """The regular file (new or existing) that writing ``path`` replaces."""
    target = Path(os.path.realpath(path))  # symbolic links followed
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a file where a folder should be, a link loop...
        raise _naming(exc, path) from exc
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(
            errno.EISDIR, "Is a folder; give the path of a file to write", str(path)
        )
    if mode is not None and not stat.S_ISREG(mode):
        via = f" (a link to {target})" if target != Path(path).absolute() else ""
        raise ValueError(
            f"{path}: not a regular file but a {file_kind(mode)}{via}; skmnist "
            "writes only regular files and will not replace it"
        )
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"No such folder {str(folder)!r} to write", str(path)
        )
    return target


def check_writable(path):
    """Check that :func:`atomic_path` can write ``path``, without writing it.

    For commands that work for minutes before they save: they call this
    first, so that a typo in the output path fails at once.

    Parameters
    ----------
    path : str or os.PathLike
        The file to be written.

    Raises
    ------
    OSError
        If the folder does not exist (:class:`FileNotFoundError`), cannot be
        written (:class:`PermissionError`), or ``path`` is a folder
        (:class:`IsADirectoryError`).
    ValueError
        If ``path`` is a FIFO, a device, a socket or a link to one.

    Examples
    --------
    >>> from skmnist._utils.files import check_writable
    >>> check_writable("model.skmnist")
    >>> check_writable("no/such/folder/model.skmnist")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: [Errno 2] No such folder ... to write: 'no/such/folder/...'
    """
    target = _target(path)
    try:
        fd, probe = tempfile.mkstemp(
            prefix=_tmp_prefix(target.name), suffix=_TMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        if exc.errno is None:
            raise
        raise _naming(exc, path) from exc
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it into place on success.

    The temporary file lives in the same folder as the file it replaces, so
    the final :func:`os.replace` is atomic: readers see either the old file
    or the complete new one. If the body raises (or is interrupted, see the
    module's description), the temporary file is removed and an existing
    file at ``path`` is left untouched. Errors name ``path``, never the
    temporary file.

    Raises
    ------
    OSError, ValueError
        As :func:`check_writable`, before the body runs; or whatever the body
        and the final rename raise.
    """
    target = _target(path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=_tmp_prefix(target.name), suffix=_TMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        if exc.errno is None:
            raise
        raise _naming(exc, path) from exc
    os.close(fd)
    try:
        # mkstemp creates the file owner-only; give it the mode a plain open()
        # would, so a saved model is as readable as any file the user writes.
        os.chmod(tmp, 0o666 & ~_current_umask())
        with _signals_raise():
            yield Path(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())  # the data is on disk before the rename
            _target(path)  # still not a FIFO or a device, a moment before
            os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, _Signalled):
            os.kill(os.getpid(), exc.signum)  # the default action, handler restored
        if (
            isinstance(exc, OSError)
            and exc.errno is not None
            and exc.filename in (None, tmp)
        ):
            raise _naming(exc, path) from exc
        raise
    _remove_leftovers(target)


def _tmp_prefix(name):
    return f".{name}.{_host_tag()}-{os.getpid()}-"


def _host_tag():
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _naming(exc, path):
    """``exc`` about ``path``, the file the user asked for, not a temporary one."""
    # OSError(errno, ...) makes the matching subclass: PermissionError...
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


class _Signalled(BaseException):
    """SIGTERM or SIGHUP arrived while a temporary file was being written."""

    def __init__(self, signum):
        super().__init__(f"signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def _signals_raise():
    """Turn SIGTERM and SIGHUP into an exception, where Python lets us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        raise _Signalled(signum)

    for signum in _SIGNALS:
        # Only default handlers: a program's own handler is left alone.
        if signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _remove_leftovers(target):
    """Remove temporary files of earlier writes of ``target`` that were killed."""
    pattern = re.compile(
        re.escape(f".{target.name}.")
        + r"(?:(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-)?[^.]*"
        + re.escape(_TMP_SUFFIX)
    )
    here = _host_tag()
    with contextlib.suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if match["host"] == here:
                    stale = not _alive(int(match["pid"]))
                else:
                    age = time.time() - entry.stat(follow_symlinks=False).st_mtime
                    stale = age > _STALE_SECONDS
                if stale:
                    os.unlink(entry.path)


def _alive(pid):
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process, say
    return True


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dump_atomic(obj, path):
    """``joblib.dump`` to ``path``, atomically (see :func:`atomic_path`)."""
    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(obj, tmp)
    return Path(path)
