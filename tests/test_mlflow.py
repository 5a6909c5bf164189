"""skmnist.mlflow: the skmnist flavor and its python_function flavor.

An MLflow model holds the skmnist safe file; loaded back (as skmnist or as
pyfunc) it predicts exactly as the model did, and the pyfunc model runs
without TensorFlow. Tracking goes to a local file store in tmp_path.
"""

import json
import subprocess
import sys
import textwrap

import mlflow
import mlflow.artifacts
import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from sklearn.dummy import DummyClassifier

import skmnist
import skmnist.mlflow
from skmnist import MNISTMLPClassifier, MNISTPreprocessor, make_mnist_pipeline

# MLflow's advice to log an input example, for the models saved without one.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*An input example was not provided:UserWarning"
)

TINY = {"hidden_layer_sizes": (32,), "epochs": 1, "random_state": 0}


@pytest.fixture(autouse=True)
def tracking(tmp_path, monkeypatch):
    """A local file store as the tracking server, in this test's tmp_path."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    # MLflow 3.13+ refuses a folder as the tracking store unless told.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="module")
def pipeline(mnist):
    (X_train, y_train), _ = mnist
    return make_mnist_pipeline(**TINY).fit(X_train[:3000], y_train[:3000])


@pytest.fixture(scope="module")
def classifier(mnist_small):
    (X, y), _ = mnist_small
    return MNISTMLPClassifier(**TINY).fit(X[:3000], y[:3000])


@pytest.fixture(scope="module")
def images(mnist):
    _, (X_test, _) = mnist
    return np.ascontiguousarray(X_test[:500])


def test_log_model_and_load_model_give_the_model_back(pipeline, images):
    with mlflow.start_run() as run:
        info = skmnist.mlflow.log_model(
            pipeline, name="digits", input_example=images[:3]
        )
    assert info.run_id == run.info.run_id
    loaded = skmnist.mlflow.load_model(info.model_uri)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipeline.steps]
    np.testing.assert_array_equal(
        loaded.predict_proba(images), pipeline.predict_proba(images)
    )


def test_a_registered_model_loads_by_name_and_version(classifier, mnist_small):
    (X, _), _ = mnist_small
    with mlflow.start_run():
        skmnist.mlflow.log_model(
            classifier, name="digits", registered_model_name="skmnist-digits"
        )
    loaded = skmnist.mlflow.load_model("models:/skmnist-digits/1")
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))


def test_the_model_is_stored_as_the_skmnist_safe_file(pipeline, tmp_path, images):
    path = tmp_path / "model"
    skmnist.mlflow.save_model(pipeline, path)
    flavors = Model.load(str(path)).flavors
    assert flavors["skmnist"]["data"] == "data/model.skmnist"
    assert flavors["skmnist"]["skmnist_version"] == skmnist.__version__
    assert flavors["python_function"]["loader_module"] == "skmnist.mlflow"
    assert flavors["python_function"]["data"] == "data/model.skmnist"
    model_file = skmnist.load(path / "data" / "model.skmnist")
    np.testing.assert_array_equal(model_file.predict(images), pipeline.predict(images))
    files = [p.name for p in path.rglob("*") if p.is_file()]
    assert not [name for name in files if name.endswith((".pkl", ".pickle"))]
    requirements = (path / "requirements.txt").read_text().split()
    assert f"skmnist=={skmnist.__version__}" in requirements
    assert {r.split("==")[0] for r in requirements} >= {
        "mlflow",
        "numpy",
        "scikit-learn",
    }


def test_pyfunc_predicts_exactly_as_the_model(pipeline, tmp_path, images):
    skmnist.mlflow.save_model(pipeline, tmp_path / "labels")
    pyfunc_model = mlflow.pyfunc.load_model(str(tmp_path / "labels"))
    labels = pyfunc_model.predict(images)
    np.testing.assert_array_equal(labels, pipeline.predict(images))
    assert labels.dtype == pipeline.classes_.dtype
    proba = pyfunc_model.predict(images, params={"predict_fn": "predict_proba"})
    np.testing.assert_array_equal(proba, pipeline.predict_proba(images))
    assert proba.dtype == np.float32
    assert pyfunc_model.get_raw_model().steps[0][0] == pipeline.steps[0][0]


def test_pyfunc_predict_fn_makes_probabilities_the_default(pipeline, tmp_path, images):
    path = tmp_path / "proba"
    skmnist.mlflow.save_model(pipeline, path, pyfunc_predict_fn="predict_proba")
    pyfunc_model = mlflow.pyfunc.load_model(str(path))
    np.testing.assert_array_equal(
        pyfunc_model.predict(images), pipeline.predict_proba(images)
    )
    np.testing.assert_array_equal(
        pyfunc_model.predict(images, params={"predict_fn": "predict"}),
        pipeline.predict(images),
    )
    with pytest.raises(ValueError, match="predict_fn must be one of"):
        pyfunc_model.predict(images, params={"predict_fn": "decision_function"})


def test_pyfunc_runs_without_tensorflow_in_a_fresh_process(pipeline, tmp_path, images):
    path = tmp_path / "model"
    with mlflow.start_run():
        info = skmnist.mlflow.log_model(pipeline, name="digits")
    skmnist.mlflow.save_model(pipeline, path)
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import skmnist

        assert "mlflow" not in sys.modules  # import skmnist imports no MLflow
        import mlflow.pyfunc

        images = np.load({str(tmp_path / "images.npy")!r})
        for name, uri in (("local", {str(path)!r}), ("logged", {info.model_uri!r})):
            model = mlflow.pyfunc.load_model(uri)
            np.save({str(tmp_path)!r} + f"/{{name}}-labels.npy", model.predict(images))
            proba = model.predict(images, params={{"predict_fn": "predict_proba"}})
            np.save({str(tmp_path)!r} + f"/{{name}}-proba.npy", proba)
        heavy = ("tensorflow", "keras")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    for name in ("local", "logged"):
        labels = np.load(tmp_path / f"{name}-labels.npy")
        np.testing.assert_array_equal(labels, pipeline.predict(images))
        proba = np.load(tmp_path / f"{name}-proba.npy")
        np.testing.assert_array_equal(proba, pipeline.predict_proba(images))


def _schema(schema):
    return [spec.to_dict() for spec in schema.inputs]


def test_default_signatures_describe_mnist(pipeline, classifier, tmp_path):
    """uint8 images in for a pipeline, float32 rows for a classifier alone;
    labels or probabilities out; predict_fn as the inference parameter."""
    skmnist.mlflow.save_model(pipeline, tmp_path / "pipeline")
    signature = Model.load(str(tmp_path / "pipeline")).signature
    assert _schema(signature.inputs) == [
        {"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": (-1, 28, 28)}}
    ]
    assert _schema(signature.outputs) == [
        {"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": (-1,)}}
    ]
    (param,) = signature.params.params
    assert (param.name, param.dtype.name, param.default) == (
        "predict_fn",
        "string",
        "predict",
    )

    skmnist.mlflow.save_model(
        classifier, tmp_path / "classifier", pyfunc_predict_fn="predict_proba"
    )
    signature = Model.load(str(tmp_path / "classifier")).signature
    assert _schema(signature.inputs) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 784)}}
    ]
    assert _schema(signature.outputs) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 10)}}
    ]
    assert signature.params.params[0].default == "predict_proba"


def test_the_signature_follows_an_input_example(classifier, mnist_small, tmp_path):
    (X, _), _ = mnist_small
    example = X[:2].astype(np.float64)
    skmnist.mlflow.save_model(classifier, tmp_path / "m", input_example=example)
    model = Model.load(str(tmp_path / "m"))
    assert _schema(model.signature.inputs) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": (-1, 784)}}
    ]
    np.testing.assert_array_equal(
        model.load_input_example(str(tmp_path / "m")), example
    )


def test_no_signature_takes_data_frames_of_rows(classifier, mnist_small, tmp_path):
    (X, _), _ = mnist_small
    skmnist.mlflow.save_model(classifier, tmp_path / "m", signature=False)
    assert Model.load(str(tmp_path / "m")).signature is None
    pyfunc_model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    frame = pd.DataFrame(X[:200])
    frame.columns = frame.columns.astype(str)  # as a JSON payload names them
    np.testing.assert_array_equal(
        pyfunc_model.predict(frame), classifier.predict(X[:200])
    )


def test_the_serving_payload_predicts_as_the_model(pipeline, tmp_path, images):
    """MLflow's scoring path (JSON in, JSON out) on the saved example."""
    with mlflow.start_run():
        info = skmnist.mlflow.log_model(
            pipeline, name="digits", input_example=images[:4]
        )
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path))
    payload = Model.load(local).get_serving_input(local)
    assert json.loads(payload)["inputs"] == images[:4].tolist()
    (tmp_path / "input.json").write_text(payload)
    mlflow.models.predict(
        info.model_uri,
        input_path=str(tmp_path / "input.json"),
        output_path=str(tmp_path / "output.json"),
        env_manager="local",
    )
    served = json.loads((tmp_path / "output.json").read_text())["predictions"]
    assert served == pipeline.predict(images[:4]).tolist()


@pytest.mark.parametrize(
    ("make_model", "options", "error", "match"),
    [
        (lambda: make_mnist_pipeline(), {}, ValueError, "Fit the Pipeline"),
        (lambda: MNISTMLPClassifier(), {}, ValueError, "Fit the MNISTMLPClassifier"),
        ("preprocessor", {}, ValueError, "has no predict"),
        ("classifier", {"pyfunc_predict_fn": "score"}, ValueError, "must be one of"),
        ("dummy", {}, TypeError, "skmnist.save stores"),
        (
            "classifier",
            {"input_example": np.zeros((1, 3), np.float32), "signature": "classifier"},
            MlflowException,
            "does not match the model signature",
        ),
    ],
)
def test_bad_models_are_rejected_and_nothing_is_written(
    make_model, options, error, match, classifier, mnist_small, tmp_path
):
    (X, y), _ = mnist_small
    models = {
        "classifier": lambda: classifier,
        "preprocessor": lambda: MNISTPreprocessor().fit(X),
        "dummy": lambda: DummyClassifier().fit(X[:100], y[:100]),
    }
    model = models.get(make_model, make_model)()
    if options.get("signature") == "classifier":
        skmnist.mlflow.save_model(classifier, tmp_path / "reference")
        options["signature"] = Model.load(str(tmp_path / "reference")).signature
    before = sorted(tmp_path.iterdir())
    with pytest.raises(error, match=match):
        skmnist.mlflow.save_model(model, tmp_path / "model", **options)
    assert sorted(tmp_path.iterdir()) == before  # no folder, no leftovers


def test_a_folder_that_is_not_empty_is_left_as_it_was(classifier, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("mine")
    with pytest.raises(MlflowException, match="already exists"):
        skmnist.mlflow.save_model(classifier, tmp_path / "model")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["notes.txt"]
    assert (tmp_path / "model" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    skmnist.mlflow.save_model(classifier, tmp_path / "empty")  # an empty one is fine
    assert (tmp_path / "empty" / "MLmodel").is_file()


def test_extra_pip_requirements_are_added_to_the_defaults(classifier, tmp_path):
    skmnist.mlflow.save_model(
        classifier, tmp_path / "m", extra_pip_requirements=["pillow>=10"]
    )
    requirements = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert "pillow>=10" in requirements
    assert f"skmnist=={skmnist.__version__}" in requirements


def test_a_model_of_another_flavor_is_refused(classifier, tmp_path):
    path = tmp_path / "m"
    skmnist.mlflow.save_model(classifier, path)
    model = Model.load(str(path))
    del model.flavors["skmnist"]
    model.save(str(path / "MLmodel"))
    with pytest.raises(ValueError, match="has no 'skmnist' flavor"):
        skmnist.mlflow.load_model(path)


def test_a_model_file_outside_the_model_folder_is_refused(classifier, tmp_path):
    path = tmp_path / "m"
    skmnist.mlflow.save_model(classifier, path)
    skmnist.save(classifier, tmp_path / "elsewhere.skmnist")
    model = Model.load(str(path))
    model.flavors["skmnist"]["data"] = "../elsewhere.skmnist"
    model.save(str(path / "MLmodel"))
    with pytest.raises(ValueError, match="outside its folder"):
        skmnist.mlflow.load_model(path)


@pytest.mark.parametrize(
    "name", [name for name in skmnist.mlflow.__all__ if name.islower()]
)
def test_public_functions_have_complete_docstrings(name):
    from test_docstrings import (
        _documented_parameters,
        _sections,
        _signature_parameters,
    )

    function = getattr(skmnist.mlflow, name)
    sections = _sections(function)
    assert sections["Summary"].strip()
    assert ">>> " in sections["Examples"]
    assert "Returns" in sections
    expected = _signature_parameters(function)
    if expected:
        assert _documented_parameters(sections["Parameters"]) == expected
