"""skmnist.save / skmnist.load, and the pickle, joblib and skops.io round trips."""

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import skmnist
from skmnist import (
    MNISTMLPClassifier,
    MNISTPreprocessor,
    make_mnist_pipeline,
)
from skmnist.persistence import _format


@pytest.fixture(scope="module")
def classifier(mnist_small):
    (X, y), _ = mnist_small
    return MNISTMLPClassifier(hidden_layer_sizes=(64,), epochs=1, random_state=0).fit(
        X[:3000], y[:3000]
    )


@pytest.fixture(scope="module")
def pipeline(mnist):
    (X, y), _ = mnist
    return make_mnist_pipeline(hidden_layer_sizes=(32,), epochs=1, random_state=0).fit(
        X[:2000], y[:2000]
    )


@pytest.fixture(scope="module")
def labelled_frame():
    """A small problem with string labels and named columns."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.rand(120, 6), columns=[f"f{i}" for i in range(6)])
    y = np.array(["cat", "dog", "emu"], dtype=object)[rng.randint(0, 3, len(X))]
    return X, y


def _copy(estimator):
    """A copy of a fitted estimator that tests may change."""
    new = clone(estimator)
    new.__dict__.update(
        {k: v for k, v in vars(estimator).items() if k not in vars(new)}
    )
    return new


def _assert_same_value(a, b, where):
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _assert_same_value(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def _assert_same_estimator(original, loaded):
    assert type(loaded) is type(original)
    fitted = {k for k in vars(original) if k.endswith("_") and k[0] != "_"}
    assert fitted == {k for k in vars(loaded) if k.endswith("_") and k[0] != "_"}
    for name in sorted(fitted):
        _assert_same_value(getattr(original, name), getattr(loaded, name), name)
    params = original.get_params(deep=False)
    for name, value in loaded.get_params(deep=False).items():
        if name != "random_state" or not isinstance(value, np.random.RandomState):
            _assert_same_value(params[name], value, name)


# -- round trips --------------------------------------------------------------


def test_classifier_round_trip(classifier, mnist_small, tmp_path):
    _, (X_test, _) = mnist_small
    path = skmnist.save(classifier, tmp_path / "clf.skmnist")
    assert path == tmp_path / "clf.skmnist"
    loaded = skmnist.load(path)

    _assert_same_estimator(classifier, loaded)
    assert loaded.hidden_layer_sizes == (64,)  # a tuple again, not a list
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), classifier.predict_proba(X_test)
    )
    np.testing.assert_array_equal(loaded.predict(X_test), classifier.predict(X_test))
    assert loaded.score(X_test[:100], classifier.predict(X_test[:100])) == 1.0


def test_pipeline_round_trip(pipeline, mnist, tmp_path):
    _, (X_test, _) = mnist
    loaded = skmnist.load(skmnist.save(pipeline, tmp_path / "pipe.skmnist"))

    assert isinstance(loaded, Pipeline)
    assert [name for name, _ in loaded.steps] == ["preprocess", "classifier"]
    for (_, original_step), (_, loaded_step) in zip(
        pipeline.steps, loaded.steps, strict=True
    ):
        _assert_same_estimator(original_step, loaded_step)
    assert loaded.named_steps["preprocess"].image_shape_ == (28, 28)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test[:500]), pipeline.predict_proba(X_test[:500])
    )


def test_string_labels_feature_names_and_random_state(labelled_frame, tmp_path):
    X, y = labelled_frame
    rng = np.random.RandomState(7)
    clf = MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=rng)
    clf.fit(X, y)
    loaded = skmnist.load(skmnist.save(clf, tmp_path / "m.skmnist"))

    assert loaded.classes_.dtype == object
    assert list(loaded.classes_) == ["cat", "dog", "emu"]
    assert all(type(c) is str for c in loaded.classes_)
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.feature_names_in_, clf.feature_names_in_)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    # The RandomState is stored as its state (data), not pickled.
    restored = loaded.random_state
    assert isinstance(restored, np.random.RandomState) and restored is not rng
    assert restored.randint(10**9) == rng.randint(10**9)
    with pytest.raises(ValueError, match=r"feature names"):
        loaded.predict(X.rename(columns={"f0": "other"}))


def test_unfitted_estimators_round_trip(tmp_path):
    clf = MNISTMLPClassifier(hidden_layer_sizes=[10, 20], dropout=0.0, epochs=3)
    loaded = skmnist.load(skmnist.save(clf, tmp_path / "u.skmnist"))
    assert loaded.get_params() == clf.get_params()
    assert loaded.hidden_layer_sizes == [10, 20]  # a list stays a list
    with pytest.raises(NotFittedError):
        loaded.predict(np.zeros((1, 4)))

    pre = skmnist.load(skmnist.save(MNISTPreprocessor(), tmp_path / "p.skmnist"))
    assert type(pre) is MNISTPreprocessor


def test_new_fitted_attributes_round_trip_generically(classifier, tmp_path):
    """Attributes this module does not know of (added by later features).

    The classifier's own fields are checked against its training record at
    load (tests/test_persistence_fuzz.py), so the values are new ones.
    """
    clf = _copy(classifier)
    clf.curve_ = [0.5, 0.25, 0.125]
    clf.scores_ = [0.9, float("nan"), float("inf")]
    clf.best_score_ = np.float64(0.97)
    clf.best_epoch_ = np.int64(3)
    clf.converged_ = np.bool_(True)
    clf.stopped_early_ = None
    clf.per_class_ = {0: (1, "a"), "b": [np.arange(3, dtype=np.int16)]}
    clf.mixed_labels_ = np.array([1, "two", 3.5, None], dtype=object)
    clf.matrix_ = np.arange(6, dtype=np.float32).reshape(2, 3)
    clf.complex_ = np.complex128(1 + 2j)
    clf.empty_ = np.array([], dtype=np.uint8)
    loaded = skmnist.load(skmnist.save(clf, tmp_path / "m.skmnist"))
    _assert_same_estimator(clf, loaded)
    assert loaded.matrix_.flags.c_contiguous


def test_training_state_hooks_are_used_when_present(classifier, tmp_path, monkeypatch):
    received = {}

    def get_state(self):
        return {"moment": np.full((2, 2), 0.5), "step": np.array(7)}

    def set_state(self, state):
        received.update(state)

    monkeypatch.setattr(
        MNISTMLPClassifier, "_get_training_state", get_state, raising=False
    )
    monkeypatch.setattr(
        MNISTMLPClassifier, "_set_training_state", set_state, raising=False
    )
    skmnist.load(skmnist.save(classifier, tmp_path / "m.skmnist"))
    assert set(received) == {"moment", "step"}
    np.testing.assert_array_equal(received["moment"], np.full((2, 2), 0.5))
    assert received["step"] == 7

    # Without the loading hook (an older reader), the state is ignored.
    monkeypatch.delattr(MNISTMLPClassifier, "_set_training_state")
    received.clear()
    skmnist.load(tmp_path / "m.skmnist")
    assert received == {}


def test_file_holds_only_json_and_npy_data(pipeline, tmp_path):
    path = skmnist.save(pipeline, tmp_path / "pipe.skmnist")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[0] == "skmnist.json"
        assert all(n.startswith("arrays/") and n.endswith(".npy") for n in names[1:])
        manifest = json.loads(archive.read("skmnist.json"))
        for name in names[1:]:
            array = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
            assert array.dtype != object
    assert manifest["format"] == "skmnist-model"
    assert manifest["format_version"] == 1
    assert manifest["skmnist_version"] == skmnist.__version__
    model = manifest["model"]
    assert model["class"] == "Pipeline"
    assert [name for name, _ in model["steps"]] == ["preprocess", "classifier"]
    assert model["steps"][1][1]["class"] == "MNISTMLPClassifier"
    assert model["steps"][1][1]["params"]["hidden_layer_sizes"] == {"__tuple__": [32]}
    # The same model gives the same bytes.
    again = skmnist.save(pipeline, tmp_path / "again.skmnist")
    assert again.read_bytes() == path.read_bytes()


# -- what cannot be saved -----------------------------------------------------


def test_save_refuses_foreign_estimators(tmp_path):
    with pytest.raises(TypeError, match=r"LogisticRegression"):
        skmnist.save(LogisticRegression(), tmp_path / "x.skmnist")
    pipe = Pipeline([("pre", MNISTPreprocessor()), ("lr", LogisticRegression())])
    with pytest.raises(TypeError, match=r"step 'lr'"):
        skmnist.save(pipe, tmp_path / "x.skmnist")

    class Sub(MNISTMLPClassifier):
        pass

    with pytest.raises(TypeError, match=r"Sub"):
        skmnist.save(Sub(), tmp_path / "x.skmnist")
    assert not (tmp_path / "x.skmnist").exists()


@pytest.mark.parametrize(
    "value, kind",
    [
        (lambda x: x, "function"),
        (np.array([1, object()], dtype=object), "object array containing"),
        (np.datetime64("2024-01-01"), "datetime64"),
    ],
)
def test_save_refuses_code_and_unknown_objects(classifier, tmp_path, value, kind):
    clf = _copy(classifier)
    clf.hook_ = value
    path = tmp_path / "m.skmnist"
    path.write_bytes(b"previous content")
    with pytest.raises(ValueError, match=f"hook_ holds .*{kind}"):
        skmnist.save(clf, path)
    assert path.read_bytes() == b"previous content"


def test_save_is_atomic(classifier, tmp_path, monkeypatch):
    path = skmnist.save(classifier, tmp_path / "m.skmnist")
    before = path.read_bytes()
    calls = []
    real_write = _format.write_member

    def failing_write(archive, name, data, compression):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        real_write(archive, name, data, compression)

    monkeypatch.setattr(_format, "write_member", failing_write)
    with pytest.raises(OSError, match=r"disk full"):
        skmnist.save(classifier, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.skmnist"]  # no temp file


# -- files load refuses -------------------------------------------------------


def _rewrite(path, new_path, change_manifest=None, extra=None):
    """Copy an skmnist file, changing its manifest or adding members."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(new_path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "skmnist.json" and change_manifest is not None:
                manifest = json.loads(data)
                change_manifest(manifest)
                data = json.dumps(manifest).encode()
            dst.writestr(name, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return new_path


@pytest.fixture
def saved(classifier, tmp_path):
    return skmnist.save(classifier, tmp_path / "good.skmnist")


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        skmnist.load(tmp_path / "missing.skmnist")


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, world\n" * 10, b"PK\x03\x04" + b"\x00" * 50],
    ids=["empty", "text", "zip-header-only"],
)
def test_load_refuses_files_that_are_not_models(tmp_path, content):
    path = tmp_path / "junk.skmnist"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"junk\.skmnist: not an skmnist model file"):
        skmnist.load(path)


def test_load_refuses_truncated_files(saved, tmp_path):
    data = saved.read_bytes()
    for keep in (len(data) // 2, len(data) - 10, 100):
        path = tmp_path / f"cut{keep}.skmnist"
        path.write_bytes(data[:keep])
        with pytest.raises(ValueError, match=r"not an skmnist model file.*truncated"):
            skmnist.load(path)


def test_load_refuses_corrupted_array_data(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("arrays/0.npy")
    middle = info.header_offset + 200 + info.compress_size // 2
    data[middle] ^= 0xFF
    path = tmp_path / "flipped.skmnist"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupt or truncated skmnist model file"):
        skmnist.load(path)


def test_load_refuses_foreign_zip_files(tmp_path):
    npz = tmp_path / "arrays.npz"
    np.savez(npz, x=np.arange(3))
    with pytest.raises(ValueError, match=r"not an skmnist model file.*without"):
        skmnist.load(npz)

    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("skmnist.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match=r"not an skmnist model file.*format"):
        skmnist.load(other)

    bad_json = tmp_path / "bad_json.zip"
    with zipfile.ZipFile(bad_json, "w") as archive:
        archive.writestr("skmnist.json", "{not json")
    with pytest.raises(ValueError, match=r"not an skmnist model file.*JSON"):
        skmnist.load(bad_json)


def test_load_refuses_pickle_files_with_a_hint(classifier, tmp_path):
    for path in (tmp_path / "m.joblib", tmp_path / "m.pkl"):
        if path.suffix == ".pkl":
            path.write_bytes(pickle.dumps(classifier))
        else:
            joblib.dump(classifier, path)
        with pytest.raises(ValueError, match=r"pickle or joblib file.*trust"):
            skmnist.load(path)


def test_load_refuses_future_format_versions(saved, tmp_path):
    def future(manifest):
        manifest["format_version"] = 2
        manifest["skmnist_version"] = "9.0.0"

    path = _rewrite(saved, tmp_path / "future.skmnist", future)
    with pytest.raises(ValueError) as info:
        skmnist.load(path)
    message = str(info.value)
    assert "format version 2" in message and "skmnist 9.0.0" in message
    assert f"skmnist {skmnist.__version__} reads format versions up to 1" in message
    assert "Upgrade skmnist" in message


@pytest.mark.parametrize("version", [0, "1", None, 1.5])
def test_load_refuses_invalid_format_versions(saved, tmp_path, version):
    def change(manifest):
        manifest["format_version"] = version

    path = _rewrite(saved, tmp_path / "bad.skmnist", change)
    with pytest.raises(ValueError, match=r"format_version"):
        skmnist.load(path)


@pytest.mark.parametrize("name", ["LogisticRegression", "os.system", "", None])
def test_load_refuses_unknown_classes(saved, tmp_path, name):
    def change(manifest):
        manifest["model"]["class"] = name

    path = _rewrite(saved, tmp_path / "cls.skmnist", change)
    with pytest.raises(ValueError, match=r"unknown estimator class"):
        skmnist.load(path)


def test_load_refuses_unknown_parameters_suggesting_an_upgrade(saved, tmp_path):
    def change(manifest):
        manifest["model"]["params"]["feature_from_the_future"] = 3

    path = _rewrite(saved, tmp_path / "param.skmnist", change)
    with pytest.raises(ValueError, match=r"feature_from_the_future.*upgrade skmnist"):
        skmnist.load(path)


def test_load_refuses_missing_arrays(saved, tmp_path):
    def change(manifest):
        manifest["model"]["attributes"]["coefs_"][0]["__ndarray__"] = "arrays/99.npy"

    path = _rewrite(saved, tmp_path / "missing.skmnist", change)
    with pytest.raises(ValueError, match=r"array arrays/99.npy is missing"):
        skmnist.load(path)


def test_load_never_unpickles(saved, tmp_path):
    """An object array (a pickle inside .npy) is refused, its code not run."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buffer = io.BytesIO()
    evil = np.empty(1, dtype=object)
    evil[0] = Payload()
    np.save(buffer, evil, allow_pickle=True)

    def change(manifest):
        manifest["model"]["attributes"]["classes_"] = {"__ndarray__": "arrays/evil.npy"}

    path = _rewrite(
        saved,
        tmp_path / "evil.skmnist",
        change,
        extra={"arrays/evil.npy": buffer.getvalue()},
    )
    with pytest.raises(ValueError, match=r"corrupt skmnist model file.*evil.npy"):
        skmnist.load(path)
    assert not marker.exists()


def test_load_refuses_unknown_tags_and_private_attributes(saved, tmp_path):
    def unknown_tag(manifest):
        manifest["model"]["attributes"]["n_iter_"] = {"__pickle__": "gASVAAAA"}

    path = _rewrite(saved, tmp_path / "tag.skmnist", unknown_tag)
    with pytest.raises(ValueError, match=r"unknown value"):
        skmnist.load(path)

    def private(manifest):
        manifest["model"]["attributes"]["_model"] = 1

    path = _rewrite(saved, tmp_path / "private.skmnist", private)
    with pytest.raises(ValueError, match=r"not fitted attributes"):
        skmnist.load(path)


# -- pickle, joblib and skops.io ----------------------------------------------


@pytest.mark.parametrize("which", ["classifier", "pipeline"])
def test_pickle_joblib_and_skops_round_trips(which, request, mnist, tmp_path):
    model = request.getfixturevalue(which)
    _, (X_test, _) = mnist
    X = X_test[:300] if which == "pipeline" else X_test[:300].reshape(300, -1) / 255
    expected = model.predict_proba(X)

    from_pickle = pickle.loads(pickle.dumps(model))
    joblib.dump(model, tmp_path / "m.joblib")
    from_joblib = joblib.load(tmp_path / "m.joblib")

    sio.dump(model, tmp_path / "m.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "m.skops")
    assert untrusted, "skmnist's own types are not trusted by default"
    assert all(name.startswith("skmnist.") for name in untrusted), untrusted
    from_skops = sio.load(tmp_path / "m.skops", trusted=untrusted)

    for loaded in (from_pickle, from_joblib, from_skops):
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_training_continues_identically_after_save_and_load(mnist_small, tmp_path, how):
    (X, y), (X_test, _) = mnist_small
    X, y = X[:2000], y[:2000]
    original = MNISTMLPClassifier(hidden_layer_sizes=(32,), epochs=1, random_state=0)
    original.partial_fit(X, y, classes=np.arange(10))
    loaded = skmnist.load(skmnist.save(original, tmp_path / "model.skmnist"))
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), original.predict_proba(X_test)
    )

    for model in (original, loaded):
        if how == "partial_fit":
            model.partial_fit(X, y)
        else:
            model.set_params(warm_start=True).fit(X, y)
    # Same optimizer moments, dropout and shuffling state: the same next epoch.
    assert loaded.n_iter_ == original.n_iter_ == 2
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), original.predict_proba(X_test)
    )
