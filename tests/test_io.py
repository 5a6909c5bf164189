"""Atomic writes: a crash never leaves a half-written file."""

import joblib
import pytest

from skmnist._io import atomic_path, dump_atomic


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
    import os

    mask = os.umask(0o022)
    try:
        path = dump_atomic([1], tmp_path / "m.joblib")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
