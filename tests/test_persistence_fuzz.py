"""skmnist.load on damaged, crafted and foreign files.

Whatever the file, ``load`` returns a working model (it predicts finite
probabilities that sum to 1) or raises one ``ValueError`` whose message starts
with the path; it reads within bounds (checked with tracemalloc on zip bombs
and lying headers) and writes nothing. The files are mutated copies of small
models fitted on scikit-learn's 8 x 8 digits: truncated, flipped, with edited
JSON, with members swapped, renamed or dropped, with huge claimed shapes.
"""

import copy
import io
import json
import math
import os
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skmnist
from skmnist import (
    MNISTCNNClassifier,
    MNISTMLPClassifier,
    MNISTPreprocessor,
)
from skmnist.persistence import _archive
from skmnist.persistence._archive import MANIFEST as _MANIFEST

# Peak memory that loading a hostile file may take, whatever it claims.
MEMORY_BOUND = 16 * 2**20


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


# The models: a bare MLP and a bare ConvNet (rows in [0, 1]), and a pipeline
# of the preprocessor and an MLP (raw 0-16 pixels).
KINDS = ["classifier", "cnn", "pipeline"]


@pytest.fixture(scope="module")
def models(digits):
    from sklearn.pipeline import make_pipeline

    X, y = digits
    clf = MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0)
    cnn = MNISTCNNClassifier(filters=(4,), dense_units=(8,), epochs=2, random_state=0)
    pipe = make_pipeline(
        MNISTPreprocessor(),
        MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0),
    )
    return {
        "classifier": clf.fit(X / 16, y),
        "cnn": cnn.fit(X / 16, y),
        "pipeline": pipe.fit(X, y),
    }


@pytest.fixture(scope="module")
def files(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("valid")
    return {
        name: skmnist.save(model, folder / f"{name}.skmnist")
        for name, model in models.items()
    }


def _inputs(kind, digits):
    X, _ = digits
    return X[:50] if kind == "pipeline" else X[:50] / 16


def _outcome(path, X):
    """ "loaded" for a working model, "refused" for one ValueError; else fail.

    "unfitted" for an unfitted estimator (save writes those too, as their
    parameters alone), "transformer" for a working one without predict_proba.
    """
    try:
        model = skmnist.load(path)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: "), message
        return "refused"
    try:
        check_is_fitted(model)
    except NotFittedError:
        return "unfitted"
    if not hasattr(model, "predict_proba"):  # a preprocessor, say
        assert np.isfinite(model.transform(X)).all()
        return "transformer"
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(model.classes_))
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert len(model.predict(X)) == len(X)
    return "loaded"


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write(path, members, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names, on purpose
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def _with_manifest(source, path, manifest):
    members = _members(source)
    members[_MANIFEST] = json.dumps(manifest).encode()
    return _write(path, members.items())


def _manifest(source):
    return json.loads(_members(source)[_MANIFEST])


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_header(shape, descr="<f8"):
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _peak_memory(function):
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _coef_member(source, layer=0):
    return _manifest(source)["model"]["attributes"]["coefs_"][layer]["__ndarray__"]


# -- mutations of valid files -------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_at_many_offsets(files, digits, tmp_path, kind):
    data = files[kind].read_bytes()
    offsets = sorted({*range(0, len(data), 97), *range(len(data) - 120, len(data))})
    path = tmp_path / "cut.skmnist"
    for keep in offsets:
        path.write_bytes(data[:keep])
        assert _outcome(path, _inputs(kind, digits)) == "refused", keep


@pytest.mark.parametrize("kind", KINDS)
def test_flipped_bytes(files, digits, tmp_path, kind):
    data = files[kind].read_bytes()
    rng = np.random.RandomState(0)
    # Every byte of the central directory's last entries and the end record,
    # and of the first two local headers, where a flip changes sizes, offsets
    # and names; a sample of the rest, where the CRC catches it.
    offsets = {*range(len(data) - 400, len(data)), *rng.randint(0, len(data), 150)}
    for start in [0, data.index(b"PK\x03\x04", 1)]:
        offsets.update(range(start, start + 60))
    outcomes = set()
    path = tmp_path / "flipped.skmnist"
    for offset in sorted(offsets):
        mutated = bytearray(data)
        mutated[offset] ^= (0x01, 0x80, 0xFF)[offset % 3]
        path.write_bytes(bytes(mutated))
        outcomes.add(_outcome(path, _inputs(kind, digits)))
    # Some flips (in timestamps, or padding) leave a working model.
    assert {"loaded", "refused"} <= outcomes


HOSTILE_VALUES = [
    None,
    -1,
    10**30,
    1.5,
    "x" * 100,
    [],
    {},
    [[[[[[[[]]]]]]]],
    {"__ndarray__": "arrays/999.npy"},
    {"__ndarray__": "../skmnist.json"},
    {"__ndarray__": 5},
    {"__float__": "nan"},
    {"__float__": []},
    {"__scalar__": "O", "value": 1},
    {"__scalar__": "<f8", "value": "x"},
    {"__tuple__": 3},
    {"__dict__": [[[], 1]]},
    {"__dict__": 7},
    {"__object_array__": [1, 2], "shape": [10**9]},
    {"__random_state__": {}},
    {"__complex__": 1},
]


def _node_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _node_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _node_paths(item, (*prefix, i))


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


@pytest.mark.parametrize("kind", KINDS)
def test_edited_json_values_and_types(files, digits, tmp_path, kind):
    manifest = _manifest(files[kind])
    paths = [p for p in _node_paths(manifest["model"], ("model",)) if p]
    assert len(paths) > 100
    outcomes = set()
    path = tmp_path / "edited.skmnist"
    # Every node gets a few of the values, in turn, so that each value meets
    # every kind of node without trying all pairs.
    per_node = 3
    for i, node in enumerate(paths):
        for j in range(per_node):
            value = HOSTILE_VALUES[(i * per_node + j) % len(HOSTILE_VALUES)]
            edited = copy.deepcopy(manifest)
            _set(edited, node, value)
            _with_manifest(files[kind], path, edited)
            outcomes.add(_outcome(path, _inputs(kind, digits)))
    assert {"loaded", "refused"} <= outcomes


def test_edited_top_level_fields(files, digits, tmp_path):
    manifest = _manifest(files["classifier"])
    path = tmp_path / "edited.skmnist"
    for key in list(manifest):
        for value in HOSTILE_VALUES:
            edited = {**manifest, key: value}
            _with_manifest(files["classifier"], path, edited)
            outcome = _outcome(path, _inputs("classifier", digits))
            if key in ("format", "format_version", "model"):
                assert outcome == "refused", (key, value)
    for manifest_value in ([], "text", 3, None):
        _with_manifest(files["classifier"], path, manifest_value)
        assert _outcome(path, _inputs("classifier", digits)) == "refused"


@pytest.mark.parametrize("kind", KINDS)
def test_swapped_renamed_dropped_and_duplicated_members(files, digits, tmp_path, kind):
    members = _members(files[kind])
    arrays = [name for name in members if name.startswith("arrays/")]
    path = tmp_path / "mutated.skmnist"
    X = _inputs(kind, digits)
    outcomes = set()
    for i, first in enumerate(arrays):
        for second in arrays[i + 1 :]:
            swapped = dict(members)
            swapped[first], swapped[second] = members[second], members[first]
            outcomes.add(_outcome(_write(path, swapped.items()), X))
    for name in members:
        dropped = [(n, d) for n, d in members.items() if n != name]
        assert _outcome(_write(path, dropped), X) == "refused", name
        renamed = [(n + ".bak" if n == name else n, d) for n, d in members.items()]
        assert _outcome(_write(path, renamed), X) == "refused", name
        duplicated = [*members.items(), (name, members[name])]
        assert _outcome(_write(path, duplicated), X) == "refused", name
    assert {"loaded", "refused"} <= outcomes
    # Deflated members (not what save writes) load the same.
    assert _outcome(_write(path, members.items(), zipfile.ZIP_DEFLATED), X) == "loaded"


def test_huge_claimed_shapes_are_refused_cheaply(files, digits, tmp_path):
    source = files["classifier"]
    name = _coef_member(source)
    members = _members(source)
    path = tmp_path / "huge.skmnist"
    for shape in [(10**12,), (10**6, 10**6), (2**62, 4), (64, 8, 10**9)]:
        members[name] = _npy_header(shape) + b"\0" * 512
        _write(path, members.items())
        with pytest.raises(ValueError, match=r"claims shape .* holds 512 bytes"):
            skmnist.load(path)
        _, peak = _peak_memory(lambda: _outcome(path, None))
        assert peak < MEMORY_BOUND
    # A header that claims the real shape with too little data is truncated.
    members[name] = _npy_header((64, 8)) + b"\0" * 100
    with pytest.raises(ValueError, match=r"claims shape \(64, 8\)"):
        skmnist.load(_write(path, members.items()))


def test_npy_headers_that_are_not_numbers(files, tmp_path):
    source = files["classifier"]
    name = _coef_member(source)
    members = _members(source)
    path = tmp_path / "dtype.skmnist"
    for descr in ["|O", [("a", "<f8")], "|V8", "<M8[s]", "<U0", ("<f8", (2,))]:
        members[name] = _npy_header((64, 8), descr) + b"\0" * 4096
        with pytest.raises(ValueError, match=r"numbers and strings only|not a .npy"):
            skmnist.load(_write(path, members.items()))
    for blob in [b"", b"\x93NUMPY", b"\x93NUMPY\x03\x00\x00\x00", b"not npy at all"]:
        members[name] = blob
        with pytest.raises(ValueError, match=r"not a \.npy array"):
            skmnist.load(_write(path, members.items()))
    pickled = io.BytesIO()
    np.save(pickled, np.array([object()], dtype=object), allow_pickle=True)
    members[name] = pickled.getvalue()
    with pytest.raises(ValueError, match="numbers and strings only"):
        skmnist.load(_write(path, members.items()))


def _bomb(path, source, name, n_bytes, recorded=None):
    """``source`` with member ``name`` replaced by ``n_bytes`` of zeros, deflated.

    With ``recorded``, the member's header claims ``recorded`` bytes and the
    zip's directory records that size, while the stream still inflates to
    ``n_bytes``.
    """
    members = _members(source)
    header = _npy_header(((recorded or n_bytes) // 8,))
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            if member != name:
                archive.writestr(member, data)
                continue
            info = zipfile.ZipInfo(member)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as out:
                out.write(header)
                zeros = bytes(2**20)
                for _ in range(n_bytes // len(zeros)):
                    out.write(zeros)
    if recorded is not None:
        data = bytearray(path.read_bytes())
        (entry,) = struct.unpack_from("<L", data, data.rindex(b"PK\x05\x06") + 16)
        while True:  # the member's central directory entry
            (length,) = struct.unpack_from("<H", data, entry + 28)
            if data[entry + 46 : entry + 46 + length] == name.encode():
                break
            entry = data.index(b"PK\x01\x02", entry + 4)
        (size,) = struct.unpack_from("<L", data, entry + 24)
        assert size == len(header) + n_bytes
        struct.pack_into("<L", data, entry + 24, len(header) + recorded)
        path.write_bytes(bytes(data))
    return path


def test_zip_bomb_is_refused_in_bounded_memory(files, tmp_path):
    """The finding: a 2.3 MB file whose member inflates to 2 GB (here 512 MB)."""
    source = files["classifier"]
    path = _bomb(tmp_path / "bomb.skmnist", source, _coef_member(source), 2**29)
    assert path.stat().st_size < 2**20
    with pytest.raises(ValueError, match="would take 536870912 bytes") as info:
        skmnist.load(path)
    assert "zip bomb" in str(info.value)
    _, peak = _peak_memory(lambda: _outcome(path, None))
    assert peak < MEMORY_BOUND


def test_member_that_inflates_beyond_its_recorded_size(files, digits, tmp_path):
    source = files["classifier"]
    name = _coef_member(source)
    path = _bomb(tmp_path / "liar.skmnist", source, name, 2**27, recorded=64 * 8 * 8)
    outcome, peak = _peak_memory(lambda: _outcome(path, _inputs("classifier", digits)))
    assert outcome == "refused"
    assert peak < MEMORY_BOUND


def test_deep_json_nesting_is_refused_without_recursion_error(files, tmp_path):
    manifest = _manifest(files["classifier"])
    path = tmp_path / "deep.skmnist"
    for depth in (100, 10_000, 500_000):
        edited = json.dumps(manifest).replace(
            '"verbose": 0', '"verbose": ' + "[" * depth + "]" * depth
        )
        members = _members(files["classifier"])
        members[_MANIFEST] = edited.encode()
        with pytest.raises(ValueError, match=rf"nests {depth + 3} levels deep"):
            skmnist.load(_write(path, members.items()))
    # Brackets inside strings do not count.
    edited = copy.deepcopy(manifest)
    edited["model"]["attributes"]["note_"] = "[" * 10_000
    clf = skmnist.load(_with_manifest(files["classifier"], path, edited))
    assert clf.note_ == "[" * 10_000


def test_oversized_manifest_and_directory_are_refused(files, tmp_path):
    members = _members(files["classifier"])
    path = tmp_path / "big.skmnist"
    manifest = _manifest(files["classifier"])
    manifest["padding"] = "x" * (3 * 2**20)
    members[_MANIFEST] = json.dumps(manifest).encode()
    with pytest.raises(ValueError, match=r"skmnist.json takes .* at most 2097152"):
        skmnist.load(_write(path, members.items(), zipfile.ZIP_DEFLATED))

    many = [(f"filler/{i}", b"") for i in range(5000)]
    real = _members(files["classifier"])
    _write(path, [*real.items(), *many])
    with pytest.raises(ValueError, match=rf"{len(real) + 5000} members; at most 4096"):
        skmnist.load(path)
    long_names = [("n" * 60_000 + str(i), b"") for i in range(20)]
    _write(path, [*_members(files["classifier"]).items(), *long_names])
    with pytest.raises(ValueError, match="zip directory claims"):
        skmnist.load(path)


def test_directory_size_claimed_by_the_end_record(files, tmp_path):
    data = bytearray(files["classifier"].read_bytes())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<L", data, end + 12, 0xFFFFFF00)
    path = tmp_path / "claims.skmnist"
    path.write_bytes(bytes(data))
    _, peak = _peak_memory(lambda: _outcome(path, None))
    assert peak < MEMORY_BOUND
    with pytest.raises(ValueError, match="zip directory claims 4294967040 bytes"):
        skmnist.load(path)


# -- the findings of the issue, one by one ---------------------------------


def _edit_attribute(source, path, name, value):
    manifest = _manifest(source)
    manifest["model"]["attributes"][name] = value
    return _with_manifest(source, path, manifest)


def _replace_array(source, path, member, array):
    members = _members(source)
    members[member] = _npy(array)
    return _write(path, members.items())


@pytest.mark.parametrize("kind", ["classifier", "cnn"])
def test_weights_of_the_wrong_shape_are_refused_at_load(files, tmp_path, kind):
    source = files[kind]
    path = tmp_path / "shape.skmnist"
    with zipfile.ZipFile(source) as archive:
        shape = np.load(io.BytesIO(archive.read(_coef_member(source)))).shape
    wrong = [(*shape[:-1], shape[-1] + 1), shape[::-1], (math.prod(shape),), ()]
    for bad in wrong:
        _replace_array(source, path, _coef_member(source), np.zeros(bad))
        with pytest.raises(ValueError, match=rf"^{path}: "):
            skmnist.load(path)
    last = _coef_member(source, layer=-1)
    _replace_array(source, path, last, np.zeros((8, 11)))  # 11 outputs, 10 classes
    with pytest.raises(ValueError, match=rf"^{path}: "):
        skmnist.load(path)
    manifest = _manifest(source)
    manifest["model"]["attributes"]["coefs_"].pop()
    with pytest.raises(ValueError, match=rf"^{path}: "):
        skmnist.load(_with_manifest(source, path, manifest))


@pytest.mark.parametrize("kind", ["classifier", "cnn"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_at_load(files, tmp_path, bad, kind):
    source = files[kind]
    for layer in (0, -1):
        member = _coef_member(source, layer)
        with zipfile.ZipFile(source) as archive:
            weights = np.load(io.BytesIO(archive.read(member)))
        weights.flat[0] = bad
        path = _replace_array(source, tmp_path / "nan.skmnist", member, weights)
        with pytest.raises(ValueError, match=r"NaN|infinite"):
            skmnist.load(path)


def test_predict_cli_refuses_nan_weights(files, tmp_path, capsys):
    from skmnist import cli

    source = files["pipeline"]
    manifest = _manifest(source)
    classifier = manifest["model"]["steps"][1][1]
    member = classifier["attributes"]["intercepts_"][0]["__ndarray__"]
    path = _replace_array(source, tmp_path / "nan.skmnist", member, np.full(8, np.nan))
    np.save(tmp_path / "x.npy", np.zeros((8, 8)))
    status = cli.main(["predict", "--model", str(path), str(tmp_path / "x.npy")])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert err.startswith(f"skmnist predict: error: {path}: ") and "NaN" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "edit",
    [
        lambda state: state.pop("rng_rest"),
        lambda state: state.pop("rng_keys"),
        lambda state: state.update(rng_rest=state["optimizer_0"]),
        lambda state: state.update(rng_keys=state["rng_rest"]),
        lambda state: state.update(rng_keys=[1, 2, 3]),
        lambda state: state.update(optimizer_3="x"),
        lambda state: state.update(optimizer_3=state["rng_keys"]),
        lambda state: state.pop("optimizer_2"),
        lambda state: state.update(extra_state=5),
    ],
)
def test_edited_training_state_gives_a_value_error(files, digits, tmp_path, edit):
    source = files["classifier"]
    manifest = _manifest(source)
    edit(manifest["model"]["training_state"])
    path = _with_manifest(source, tmp_path / "state.skmnist", manifest)
    try:
        model = skmnist.load(path)
    except ValueError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    # What loads predicts; continuing training either works or says why.
    X, y = digits
    assert np.isfinite(model.predict_proba(X / 16)).all()
    try:
        model.partial_fit(X / 16, y)
    except ValueError:
        pass


def test_loaded_pipeline_never_takes_its_cache_folder_from_the_file(
    models, files, digits, tmp_path
):
    from sklearn.base import clone

    cache = tmp_path / "cache-from-the-file"
    manifest = _manifest(files["pipeline"])
    manifest["model"]["params"]["memory"] = str(cache)
    path = _with_manifest(files["pipeline"], tmp_path / "memory.skmnist", manifest)
    loaded = skmnist.load(path)
    assert loaded.memory is None
    X, y = digits
    loaded.fit(X, y)
    assert not cache.exists()

    # Nor does save store it.
    cached = clone(models["pipeline"]).set_params(memory=str(tmp_path / "mine"))
    cached.fit(X, y)
    saved = skmnist.save(cached, tmp_path / "cached.skmnist")
    assert "memory" not in _manifest(saved)["model"]["params"]
    assert skmnist.load(saved).memory is None


def test_steps_that_do_not_fit_together_are_refused(files, tmp_path):
    manifest = _manifest(files["pipeline"])
    preprocess = manifest["model"]["steps"][0][1]
    preprocess["attributes"]["n_features_in_"] = 49
    preprocess["attributes"]["image_shape_"] = {"__tuple__": [7, 7]}
    path = _with_manifest(files["pipeline"], tmp_path / "misfit.skmnist", manifest)
    with pytest.raises(ValueError, match="does not work"):
        skmnist.load(path)
    preprocess["attributes"]["image_shape_"] = {"__tuple__": [10**5, 10**5]}
    with pytest.raises(ValueError, match="image_shape_"):
        skmnist.load(_with_manifest(files["pipeline"], path, manifest))
    manifest["model"]["steps"][1][0] = manifest["model"]["steps"][0][0]
    with pytest.raises(ValueError):
        skmnist.load(_with_manifest(files["pipeline"], path, manifest))


def test_huge_widths_and_networks_are_refused(files, tmp_path):
    source = files["classifier"]
    path = tmp_path / "wide.skmnist"
    for n_features in (10**9, 0, -1, "64", 64.0, True):
        _edit_attribute(source, path, "n_features_in_", n_features)
        with pytest.raises(ValueError, match=rf"^{path}: "):
            skmnist.load(path)
    manifest = _manifest(source)
    manifest["model"]["attributes"]["architecture_"].insert(
        0, {"__dict__": [["kind", "image"], ["side", 8], ["padding", 10**6]]}
    )
    with pytest.raises(ValueError, match=rf"^{path}: "):
        skmnist.load(_with_manifest(source, path, manifest))
    # A ConvNet's image framed by a million pixels, or widened a thousandfold.
    manifest = _manifest(files["cnn"])
    layers = manifest["model"]["attributes"]["architecture_"]
    (image,) = [layer for layer in layers if ["kind", "image"] in layer["__dict__"]]
    for field, value in (("padding", 10**6), ("side", 8000)):
        edited = copy.deepcopy(manifest)
        (entry,) = [
            e for e in edited["model"]["attributes"]["architecture_"] if e == image
        ]
        entry["__dict__"] = [
            [k, value if k == field else v] for k, v in image["__dict__"]
        ]
        path = _with_manifest(files["cnn"], tmp_path / "frame.skmnist", edited)
        outcome, peak = _peak_memory(lambda: _outcome(path, None))  # noqa: B023
        assert outcome == "refused" and peak < MEMORY_BOUND


def test_bad_parameters_are_refused(files, tmp_path):
    source = files["classifier"]
    for name, value in [
        ("batch_size", 0),
        ("activation", "softplus"),
        ("tol", {"__float__": "nan"}),
        ("no_such_parameter", 1),
    ]:
        manifest = _manifest(source)
        manifest["model"]["params"][name] = value
        path = _with_manifest(source, tmp_path / "param.skmnist", manifest)
        with pytest.raises(ValueError, match="param"):
            skmnist.load(path)


def test_unknown_classes_and_attribute_names_are_refused(files, tmp_path):
    source = files["classifier"]
    path = tmp_path / "class.skmnist"
    for name in ("LogisticRegression", "os.system", "builtins.eval", None, 7):
        manifest = _manifest(source)
        manifest["model"]["class"] = name
        with pytest.raises(ValueError, match="unknown estimator class"):
            skmnist.load(_with_manifest(source, path, manifest))
    for attribute in ("__class__", "_model", "fit", "a b_", "__dict___"):
        with pytest.raises(ValueError, match="not fitted attributes"):
            skmnist.load(_edit_attribute(source, path, attribute, 1))


def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.skmnist"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"not a regular file but a FIFO"):
        skmnist.load(fifo)
    with pytest.raises(ValueError, match=r"/dev/zero: .*not a regular file"):
        skmnist.load("/dev/zero")
    with pytest.raises(IsADirectoryError):
        skmnist.load(tmp_path)
    link = tmp_path / "link.skmnist"
    link.symlink_to(fifo)
    with pytest.raises(ValueError, match="FIFO"):
        skmnist.load(link)


def test_loading_writes_nothing(files, digits, tmp_path):
    """A loaded model and every hostile file leave the file system as it was."""
    folder = files["classifier"].parent

    def snapshot():
        return {
            p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
        } | {p: None for p in tmp_path.rglob("*")}

    before = snapshot()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for path in files.values():
            skmnist.load(path)
    finally:
        os.chdir(cwd)
    assert snapshot() == before


def test_pickle_files_get_a_hint(tmp_path):
    import joblib

    path = tmp_path / "model.skmnist"
    joblib.dump({"a": 1}, path)
    with pytest.raises(ValueError, match=r"joblib\.load, and only if you trust"):
        skmnist.load(path)


def test_bounds_allow_the_models_save_writes(models, tmp_path):
    """The legitimate files sit far inside every bound."""
    for name, model in models.items():
        path = skmnist.save(model, tmp_path / f"{name}.skmnist")
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            manifest = archive.getinfo(_MANIFEST).file_size
        assert len(infos) < _archive._MAX_MEMBERS / 50
        assert manifest < _archive.MAX_MANIFEST_BYTES / 50
        arrays = [info for info in infos if info.filename != _MANIFEST]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in arrays)
        depth = _archive._json_depth(json.dumps(_manifest(path)))
        assert depth < _archive._MAX_JSON_DEPTH / 4
