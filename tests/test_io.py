"""Atomic writes: a crash never leaves a half-written file."""

import errno
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

import joblib
import numpy as np
import pytest

from skmnist._utils.files import atomic_path, check_writable, dump_atomic


def test_dump_atomic_writes_a_loadable_file(tmp_path):
    path = dump_atomic({"weights": [1, 2, 3]}, tmp_path / "model.joblib")
    assert joblib.load(path) == {"weights": [1, 2, 3]}
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_a_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    output = tmp_path / "model.joblib"
    output.write_bytes(b"the previous model")

    def crash(obj, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a mod")
        raise OSError("disk full")

    monkeypatch.setattr(joblib, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        dump_atomic({"new": 1}, output)

    assert output.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]  # no temp file left


def test_interrupt_while_writing_leaves_nothing_new(tmp_path):
    output = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), atomic_path(output) as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        dump_atomic(1, tmp_path / "no" / "such" / "folder" / "m.joblib")


def test_saved_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = dump_atomic([1], tmp_path / "m.joblib")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


# -- only regular files are written --------------------------------------------


def _save_small(path):
    from skmnist import MNISTPreprocessor, save

    return save(MNISTPreprocessor().fit(np.zeros((2, 4))), path)


@pytest.mark.parametrize("writer", [_save_small, lambda path: dump_atomic([1], path)])
def test_a_fifo_is_refused_and_left_as_it_was(tmp_path, writer):
    fifo = tmp_path / "model.skmnist"
    os.mkfifo(fifo)
    with pytest.raises(
        ValueError, match=r"model\.skmnist: not a regular file but a FIFO"
    ):
        writer(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["model.skmnist"]


def test_a_device_is_refused_and_left_as_it_was(tmp_path):
    # A copy of /dev/null's node in the test's own folder (the tests run as
    # root in CI, where replacing a real device would destroy it).
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(ValueError, match="not a regular file but a character device"):
        _save_small(device)
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    link = tmp_path / "link.skmnist"
    link.symlink_to(device)
    with pytest.raises(ValueError, match=r"character device \(a link to .*null\)"):
        _save_small(link)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and link.is_symlink()


def test_a_socket_and_a_folder_are_refused(tmp_path):
    import socket

    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(ValueError, match="socket"):
            _save_small(path)
    finally:
        server.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    with pytest.raises(IsADirectoryError, match="Is a folder"):
        _save_small(tmp_path)


def test_a_link_to_a_regular_file_is_followed(tmp_path):
    from skmnist import load

    target = tmp_path / "runs" / "42.skmnist"
    target.parent.mkdir()
    target.write_bytes(b"the previous model")
    link = tmp_path / "latest.skmnist"
    link.symlink_to(target)
    _save_small(link)
    assert link.is_symlink() and link.resolve() == target
    assert load(target).n_features_in_ == 4
    assert sorted(p.name for p in target.parent.iterdir()) == ["42.skmnist"]
    # A dangling link: the file it names is created.
    dangling = tmp_path / "next.skmnist"
    dangling.symlink_to(tmp_path / "runs" / "43.skmnist")
    _save_small(dangling)
    assert (tmp_path / "runs" / "43.skmnist").is_file() and dangling.is_symlink()


def test_errors_name_the_users_path_not_the_temporary_file(tmp_path, monkeypatch):
    output = tmp_path / "model.joblib"

    def disk_full(obj, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(joblib, "dump", disk_full)
    with pytest.raises(OSError) as info:
        dump_atomic([1], output)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(output) and ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/x/.m.tmp")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    for call in (check_writable, lambda path: dump_atomic([1], path)):
        with pytest.raises(PermissionError) as info:
            call(output)
        assert info.value.filename == str(output) and ".tmp" not in str(info.value)


def test_check_writable_writes_nothing(tmp_path):
    check_writable(tmp_path / "new.skmnist")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="No such folder"):
        check_writable(tmp_path / "missing" / "m.skmnist")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        check_writable(tmp_path / "file" / "m.skmnist")
    assert info.value.filename == str(tmp_path / "file" / "m.skmnist")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValueError, match="FIFO"):
        check_writable(tmp_path / "fifo")


# -- a killed save leaves nothing behind for long --------------------------------

# The save waits for a line on stdin (or to be killed) with its temporary
# file half written. SIGTERM and SIGHUP get the disposition the test asks for:
# a test run under nohup (or started by a process that ignores them) hands
# its children SIGHUP ignored, and a save must then leave that alone.
SLOW_SAVE = """
import signal, sys
from pathlib import Path
from skmnist._utils.files import atomic_path

disposition = signal.SIG_IGN if sys.argv[2] == "ignored" else signal.SIG_DFL
for signum in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, disposition)
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half a model")
    print("writing", flush=True)
    sys.stdin.readline()
    tmp.write_bytes(b"the new model")
"""


def _start_slow_save(output, signals="default"):
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(output), signals],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "writing\n"
    return process


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_during_a_save_removes_the_temporary_file(tmp_path, signum):
    output = tmp_path / "model.skmnist"
    output.write_bytes(b"the previous model")
    process = _start_slow_save(output)
    assert len(_leftovers(tmp_path)) == 1
    process.send_signal(signum)
    assert process.wait(timeout=30) == -signum  # still dies of the signal
    assert _leftovers(tmp_path) == []
    assert output.read_bytes() == b"the previous model"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_an_ignored_signal_stays_ignored_during_a_save(tmp_path, signum):
    """Under nohup SIGHUP is ignored: the save goes on and completes."""
    output = tmp_path / "model.skmnist"
    output.write_bytes(b"the previous model")
    process = _start_slow_save(output, signals="ignored")
    process.send_signal(signum)
    process.stdin.write("go on\n")
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert output.read_bytes() == b"the new model"
    assert _leftovers(tmp_path) == []


def test_a_leftover_of_a_killed_save_goes_with_the_next_save(tmp_path):
    output = tmp_path / "model.skmnist"
    process = _start_slow_save(output)
    process.kill()  # SIGKILL: nothing can clean up
    process.wait(timeout=30)
    (leftover,) = _leftovers(tmp_path)
    assert leftover.startswith(".model.skmnist.")
    # Files that look alike stay: a live writer's, another target's.
    live = _start_slow_save(output)
    other = tmp_path / ".other.skmnist.deadbeef-1-x.tmp"
    other.write_bytes(b"")
    try:
        (live_tmp,) = set(_leftovers(tmp_path)) - {leftover, other.name}
        _save_small(output)
        assert _leftovers(tmp_path) == sorted([live_tmp, other.name])
    finally:
        live.kill()
        live.wait(timeout=30)


def test_old_leftovers_of_other_machines_go_after_an_hour(tmp_path):
    output = tmp_path / "model.skmnist"
    old = tmp_path / ".model.skmnist.00000000-12345-abcdefgh.tmp"
    recent = tmp_path / ".model.skmnist.00000001-12345-abcdefgh.tmp"
    legacy = tmp_path / ".model.skmnist.k2j3h4g5.tmp"  # an older skmnist's name
    for path in (old, recent, legacy):
        path.write_bytes(b"")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(legacy, (two_hours_ago, two_hours_ago))
    _save_small(output)
    assert _leftovers(tmp_path) == [recent.name]
