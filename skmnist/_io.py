"""Writing files so that a crash never leaves a half-written one behind."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it into place on success.

    The temporary file lives in the same folder, so the final
    :func:`os.replace` is atomic: readers see either the old file or the
    complete new one. If the body raises, the temporary file is removed and
    an existing file at ``path`` is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates the file owner-only; give it the mode a plain open()
    # would, so a saved model is as readable as any other file the user writes.
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the data is on disk before the rename
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
