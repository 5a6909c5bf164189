"""Export to ONNX: onnxruntime's outputs against skmnist's own predictions.

The networks are small and briefly trained: equal outputs need weights, not
accuracy. The comparisons run on all 10,000 MNIST test images.
"""

import copy
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import skl2onnx
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmnist
from skmnist import (
    MNISTCNNClassifier,
    MNISTMLPClassifier,
    MNISTPreprocessor,
    make_mnist_pipeline,
)
from skmnist.cli import main
from skmnist.export import _onnx as onnx_export

PROBA_ATOL = 1e-5  # float32 in onnxruntime against skmnist's NumPy pass
N_TRAIN = 3000


def _session(onnx_model):
    return onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _run(onnx_model, X):
    """``(label, probabilities)`` of a model exported with zipmap=False."""
    session = _session(onnx_model)
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    return session.run(None, {"X": X})


def _assert_same_predictions(onnx_model, model, X):
    label, proba = _run(onnx_model, X)
    expected = model.predict_proba(X)
    assert proba.shape == expected.shape
    assert np.abs(proba - expected).max() <= PROBA_ATOL
    # Exact equality: a tie within float32 rounding would show up here as a
    # failure, and none is fudged away.
    np.testing.assert_array_equal(label, model.predict(X))


@pytest.fixture(scope="module")
def train(mnist):
    (X_train, y_train), _ = mnist
    return X_train[:N_TRAIN], y_train[:N_TRAIN]


@pytest.fixture(scope="module")
def test_images(mnist):
    _, (X_test, _) = mnist
    return X_test


@pytest.fixture(scope="module")
def pipeline(train):
    return make_mnist_pipeline(
        hidden_layer_sizes=(64, 32), epochs=1, random_state=0, verbose=0
    ).fit(*train)


@pytest.fixture(scope="module")
def convnet_pipeline(train):
    return make_mnist_pipeline(
        "cnn",
        filters=(4, 8),
        dense_units=(16,),
        epochs=1,
        random_state=0,
        verbose=0,
    ).fit(*train)


def test_import_skmnist_imports_no_onnx_package():
    code = (
        "import sys, skmnist\n"
        "assert callable(skmnist.to_onnx)\n"
        "print(sorted(m for m in sys.modules\n"
        "      if m.split('.')[0] in ('skl2onnx', 'onnx', 'onnxruntime')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    assert "to_onnx" in skmnist.__all__


def test_pipeline_on_the_mnist_test_set(pipeline, test_images):
    onnx_model = skmnist.to_onnx(pipeline, options={"zipmap": False})
    (graph_input,) = onnx_model.graph.input
    assert graph_input.name == "X"
    tensor = graph_input.type.tensor_type
    assert tensor.elem_type == onnx.TensorProto.UINT8
    dims = [(d.dim_param, d.dim_value) for d in tensor.shape.dim]
    assert dims[0][1] == 0 and [v for _, v in dims[1:]] == [28, 28]  # dynamic batch
    _assert_same_predictions(onnx_model, pipeline, test_images)
    # The probabilities are float32, as skl2onnx classifiers give them.
    _, proba = _run(onnx_model, test_images[:3])
    assert proba.dtype == np.float32


def test_convnet_pipeline_on_the_mnist_test_set(convnet_pipeline, test_images):
    kinds = [layer["kind"] for layer in convnet_pipeline[-1].architecture_]
    assert {"image", "conv2d", "max_pool2d", "flatten", "dense"} <= set(kinds)
    onnx_model = skmnist.to_onnx(convnet_pipeline, options={"zipmap": False})
    ops = {node.op_type for node in onnx_model.graph.node}
    assert {"Conv", "MaxPool", "Transpose", "MatMul", "Softmax"} <= ops
    _assert_same_predictions(onnx_model, convnet_pipeline, test_images)


def test_convnet_on_padded_non_square_rows():
    # 50 features: rows padded with zeros to 8 x 8 images, then framed so that
    # two 3x3 convolutions and their pools fit; tanh in the convolutions.
    rng = np.random.default_rng(0)
    X = rng.random((300, 50), dtype=np.float32)
    y = np.array(["a", "b", "c"])[(X[:, :3].sum(axis=1) * 2).astype(int) % 3]
    clf = MNISTCNNClassifier(
        filters=(3, 5),
        kernel_size=3,
        dense_units=(7,),
        activation="tanh",
        max_shift=0,
        epochs=2,
        random_state=0,
    ).fit(X, y)
    image = clf.architecture_[0]
    assert image["kind"] == "image" and image["side"] ** 2 > 50
    assert image["padding"] > 0
    onnx_model = skmnist.to_onnx(clf, options={"zipmap": False})
    assert "Pad" in {node.op_type for node in onnx_model.graph.node}
    _assert_same_predictions(onnx_model, clf, X)
    # onnxruntime has no float64 convolution: double input computes in
    # float32, and the probabilities come back as double.
    X64 = X.astype(np.float64)
    onnx_model = skmnist.to_onnx(clf, X=X64, options={"zipmap": False})
    _, proba = _run(onnx_model, X64)
    assert proba.dtype == np.float64
    _assert_same_predictions(onnx_model, clf, X64)


@skmnist.layers.register_layer
class _Halve(skmnist.layers.Layer):
    """A kind of a user's own that gives no ONNX nodes."""

    kind = "tests.halve"

    def __init__(self):
        pass

    def forward(self, Z, weights):
        return Z / 2


def test_a_layer_kind_without_a_conversion_is_a_clear_error(convnet_pipeline):
    clf = copy.deepcopy(convnet_pipeline[-1])
    clf.architecture_.insert(1, {"kind": "tests.halve"})
    with pytest.raises(
        NotImplementedError, match=r"'tests\.halve'.*no ONNX conversion"
    ):
        skmnist.to_onnx(clf)
    clf = copy.deepcopy(convnet_pipeline[-1])
    clf.architecture_.remove({"kind": "flatten"})
    with pytest.raises(ValueError, match=r"\(Dense\): needs rows"):
        skmnist.to_onnx(clf)


def test_single_images_and_an_empty_batch(pipeline, test_images):
    session = _session(skmnist.to_onnx(pipeline, options={"zipmap": False}))
    for i in (0, 1, 9999):
        label, proba = session.run(None, {"X": test_images[i : i + 1]})
        assert label.shape == (1,) and proba.shape == (1, 10)
        assert label[0] == pipeline.predict(test_images[i : i + 1])[0]
    label, proba = session.run(None, {"X": test_images[:0]})
    assert label.shape == (0,) and proba.shape == (0, 10)


def test_default_outputs_are_skl2onnx_zipmap(pipeline, test_images):
    session = _session(skmnist.to_onnx(pipeline))
    assert [o.name for o in session.get_outputs()] == [
        "output_label",
        "output_probability",
    ]
    label, maps = session.run(None, {"X": test_images[:20]})
    expected = pipeline.predict_proba(test_images[:20])
    np.testing.assert_array_equal(label, pipeline.predict(test_images[:20]))
    assert [sorted(row) for row in maps] == [list(range(10))] * 20
    got = np.array([[row[c] for c in range(10)] for row in maps])
    assert np.abs(got - expected).max() <= PROBA_ATOL


def test_the_same_as_skl2onnx_mlpclassifier_would_give(pipeline, test_images):
    # A scikit-learn MLPClassifier with skmnist's weights, converted by
    # skl2onnx itself: the graphs must agree on names, types and values.
    from sklearn.neural_network import MLPClassifier

    clf = pipeline[-1]
    reference = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=1)
    X = pipeline[0].transform(test_images[:200])
    with pytest.warns(ConvergenceWarning):  # one iteration: only the shapes matter
        reference.fit(X, np.arange(len(X)) % 10)
    reference.coefs_ = [c.copy() for c in clf.coefs_]
    reference.intercepts_ = [b.copy() for b in clf.intercepts_]
    reference.classes_ = clf.classes_
    ours = _session(skmnist.to_onnx(clf, options={"zipmap": False}))
    theirs = _session(skl2onnx.to_onnx(reference, X[:1], options={"zipmap": False}))
    for a, b in zip(ours.get_outputs(), theirs.get_outputs(), strict=True):
        assert (a.name, a.type) == (b.name, b.type)
    ours_label, ours_proba = ours.run(None, {"X": X})
    theirs_label, theirs_proba = theirs.run(None, {"X": X})
    np.testing.assert_array_equal(ours_label, theirs_label)
    assert np.abs(ours_proba - theirs_proba).max() < 1e-6


def test_bare_classifier_takes_float32_rows(pipeline, test_images):
    clf = pipeline[-1]
    rows = pipeline[0].transform(test_images)
    onnx_model = skmnist.to_onnx(clf, options={"zipmap": False})
    tensor = onnx_model.graph.input[0].type.tensor_type
    assert tensor.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in tensor.shape.dim] == [0, 784]
    _assert_same_predictions(onnx_model, clf, rows)


def test_float64_input_computes_in_float64(pipeline, test_images):
    clf = pipeline[-1]
    rows = pipeline[0].transform(test_images[:500]).astype(np.float64)
    label, proba = _run(
        skmnist.to_onnx(clf, X=rows[:1], options={"zipmap": False}), rows
    )
    assert proba.dtype == np.float64
    assert np.abs(proba - clf.predict_proba(rows)).max() < 1e-12
    np.testing.assert_array_equal(label, clf.predict(rows))


@pytest.mark.parametrize("network", ["mlp", "cnn"])
def test_float64_input_with_the_default_zipmap_runs_in_onnxruntime(
    network, pipeline, convnet_pipeline, test_images
):
    # ONNX's ZipMap takes float32 only: the default options with float64 rows
    # once wrote a graph onnxruntime refused to load (issue 17, point 14).
    # Labels come from the float64 pass; the maps hold float32 values.
    model = {"mlp": pipeline, "cnn": convnet_pipeline}[network]
    clf = model[-1]
    rows = model[0].transform(test_images[:500]).astype(np.float64)
    onnx_model = skmnist.to_onnx(clf, X=rows[:1])
    zipmap = [node for node in onnx_model.graph.node if node.op_type == "ZipMap"]
    assert len(zipmap) == 1
    session = _session(onnx_model)
    assert [o.name for o in session.get_outputs()] == [
        "output_label",
        "output_probability",
    ]
    assert session.get_inputs()[0].type == "tensor(double)"
    label, maps = session.run(None, {"X": rows})
    np.testing.assert_array_equal(label, clf.predict(rows))
    assert [sorted(row) for row in maps] == [list(range(10))] * len(rows)
    got = np.array([[row[c] for c in range(10)] for row in maps])
    # float32 rounding of probabilities in [0, 1]
    assert np.abs(got - clf.predict_proba(rows)).max() <= 1e-7
    # The other options keep float64 probabilities, unchanged by this.
    for options in ({"zipmap": False}, {"zipmap": "columns"}):
        outputs = _session(skmnist.to_onnx(clf, X=rows[:1], options=options)).run(
            None, {"X": rows}
        )
        assert all(out.dtype == np.float64 for out in outputs[1:])
    # The same graph through skl2onnx's own entry point, registered converters.
    onnx_export.register()
    via_skl2onnx = _session(skl2onnx.to_onnx(clf, rows[:1]))
    np.testing.assert_array_equal(via_skl2onnx.run(None, {"X": rows})[0], label)


@pytest.mark.parametrize(
    "step",
    [StandardScaler(), PCA(n_components=40, random_state=0)],
    ids=["StandardScaler", "PCA"],
)
def test_skl2onnx_converts_a_pipeline_with_a_scikit_learn_step(
    step, train, test_images
):
    pipe = make_pipeline(
        MNISTPreprocessor(),
        step,
        MNISTMLPClassifier(
            hidden_layer_sizes=(32,), activation="tanh", epochs=1, random_state=0
        ),
    ).fit(*train)
    onnx_export.register()
    onnx_model = skl2onnx.to_onnx(pipe, test_images[:1], options={"zipmap": False})
    _assert_same_predictions(onnx_model, pipe, test_images)


def test_a_scikit_learn_step_in_front_of_the_bare_classifier(train, test_images):
    X = train[0].reshape(N_TRAIN, -1).astype(np.float32)
    pipe = make_pipeline(
        StandardScaler(),
        MNISTMLPClassifier(
            hidden_layer_sizes=(16,), activation="logistic", epochs=1, random_state=0
        ),
    ).fit(X, train[1])
    onnx_model = skmnist.to_onnx(pipe, options={"zipmap": False})
    rows = test_images.reshape(len(test_images), -1).astype(np.float32)
    _assert_same_predictions(onnx_model, pipe, rows)


@pytest.mark.parametrize(
    "X",
    [
        lambda images: images,
        lambda images: images.reshape(len(images), -1),
        lambda images: images.astype(np.float64),
        lambda images: images.reshape(len(images), -1).astype(np.float32),
    ],
    ids=["uint8-images", "uint8-rows", "float64-images", "float32-rows"],
)
def test_preprocessor_equals_transform_bit_for_bit(X, train, test_images):
    preprocessor = MNISTPreprocessor().fit(train[0])
    X = X(test_images)
    (out,) = _session(skmnist.to_onnx(preprocessor, X=X[:1])).run(None, {"X": X})
    expected = preprocessor.transform(X)
    assert out.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_flat_uint8_rows_through_the_pipeline(pipeline, test_images):
    rows = test_images.reshape(len(test_images), -1)
    onnx_model = skmnist.to_onnx(pipeline, X=rows[:1], options={"zipmap": False})
    _assert_same_predictions(onnx_model, pipeline, rows)


def test_string_labels_and_class_options(train, test_images):
    names = np.array("zero one two three four five six seven eight nine".split())
    rows = MNISTPreprocessor().fit_transform(train[0])
    clf = MNISTMLPClassifier(hidden_layer_sizes=(16,), epochs=1, random_state=0)
    clf.fit(rows, names[train[1]])
    X = MNISTPreprocessor().fit_transform(test_images[:300])

    label, _ = _run(skmnist.to_onnx(clf, options={"zipmap": False}), X)
    np.testing.assert_array_equal(label, clf.predict(X))

    # nocl: the index of the class, not its label.
    label, _ = _run(skmnist.to_onnx(clf, options={"zipmap": False, "nocl": True}), X)
    np.testing.assert_array_equal(label, np.argmax(clf.predict_proba(X), axis=1))

    session = _session(
        skmnist.to_onnx(clf, options={"zipmap": False, "output_class_labels": True})
    )
    *_, classes = session.run(None, {"X": X})
    np.testing.assert_array_equal(classes, clf.classes_)

    session = _session(skmnist.to_onnx(clf, options={"zipmap": "columns"}))
    names_out = [o.name for o in session.get_outputs()]
    assert names_out == ["output_label", *(f"s{name}" for name in clf.classes_)]
    columns = session.run(None, {"X": X})[1:]
    assert np.abs(np.column_stack(columns) - clf.predict_proba(X)).max() <= 1e-5


def test_path_is_written_atomically(pipeline, test_images, tmp_path):
    path = tmp_path / "model.onnx"
    returned = skmnist.to_onnx(pipeline, path, options={"zipmap": False})
    loaded = onnx.load(path)
    assert loaded.SerializeToString() == returned.SerializeToString()
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]

    # A failed conversion leaves the existing file as it was.
    before = path.read_bytes()
    with pytest.raises(ValueError, match="opset"):
        skmnist.to_onnx(pipeline, path, target_opset=12)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_errors(pipeline, train):
    with pytest.raises(TypeError, match="not a LogisticRegression"):
        skmnist.to_onnx(LogisticRegression())
    with pytest.raises(TypeError, match="with an skmnist step"):
        skmnist.to_onnx(make_pipeline(StandardScaler(), LogisticRegression()))
    with pytest.raises(NotFittedError):
        skmnist.to_onnx(MNISTMLPClassifier())
    with pytest.raises(NotFittedError):
        skmnist.to_onnx(make_mnist_pipeline())
    with pytest.raises(ValueError, match="at least 13"):
        skmnist.to_onnx(pipeline, target_opset=11)
    with pytest.raises(TypeError, match="NumPy array"):
        skmnist.to_onnx(pipeline, X=[[0] * 784])
    with pytest.raises(ValueError, match=r"got shape \(784,\)"):
        skmnist.to_onnx(pipeline, X=np.zeros(784))
    with pytest.raises(ValueError, match="integers or floats"):
        skmnist.to_onnx(pipeline, X=np.zeros((1, 784), dtype=bool))
    with pytest.raises(ValueError, match=r"fitted on 784 pixels .*\[None, 27, 28\]"):
        skmnist.to_onnx(pipeline, X=np.zeros((1, 27, 28), np.uint8))
    with pytest.raises(ValueError, match=r"fitted on 784 pixels .*\[None, 783\]"):
        skmnist.to_onnx(pipeline[0], X=np.zeros((1, 783), np.uint8))


def test_non_integral_float_labels_are_refused(train):
    rows = MNISTPreprocessor().fit_transform(train[0][:200])
    clf = MNISTMLPClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0)
    # Integral floats are labels like integers, as skl2onnx has them.
    clf.fit(rows, train[1][:200].astype(float))
    label, _ = _run(skmnist.to_onnx(clf, options={"zipmap": False}), rows)
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, clf.predict(rows))
    # fit refuses labels such as 0.5, but an edited model can carry them; they
    # would be truncated to integers, so the export refuses them.
    # (With ZipMap, skl2onnx's own parser refuses them first.)
    clf.classes_ = clf.classes_ + 0.5
    with pytest.raises(ValueError, match="non-integral floats"):
        skmnist.to_onnx(clf, options={"zipmap": False})


def test_export_command(pipeline, test_images, tmp_path, capsys):
    model_path = tmp_path / "model.skmnist"
    skmnist.save(pipeline, model_path)
    output = tmp_path / "model.onnx"
    status = main(
        ["export", "--model", str(model_path), "--output", str(output), "--no-zipmap"]
    )
    assert status == 0
    assert capsys.readouterr().out == (
        f"Wrote {output}: input X (uint8 [N, 28, 28]), outputs label, probabilities\n"
    )
    onnx_model = onnx.load(output)
    _assert_same_predictions(onnx_model, pipeline, test_images[:1000])

    status = main(["export", "--model", str(model_path), "--output", str(output)])
    assert status == 0
    assert "outputs output_label, output_probability" in capsys.readouterr().out
    assert onnx.load(output).graph.output[0].name == "output_label"


def test_export_command_errors(tmp_path, capsys):
    missing = tmp_path / "missing.skmnist"
    output = tmp_path / "model.onnx"
    assert main(["export", "--model", str(missing), "--output", str(output)]) == 1
    assert "skmnist export: error:" in capsys.readouterr().err
    assert not output.exists()

    not_skmnist = tmp_path / "logistic.joblib"
    import joblib

    X = np.random.default_rng(0).random((20, 4))
    joblib.dump(LogisticRegression().fit(X, np.arange(20) % 2), not_skmnist)
    argv = ["export", "--model", str(not_skmnist), "--output", str(output)]
    assert main(argv) == 1  # a pickle: only with --trust-pickle
    assert "pass --trust-pickle if you trust it" in capsys.readouterr().err
    assert main([*argv, "--trust-pickle"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skmnist export: error: to_onnx converts a fitted")
    assert not output.exists()
