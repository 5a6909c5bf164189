"""Models whose labels are not the digits 0 to 9: floats, booleans, strings
that are also JavaScript property names, bytes; and labels no answer could
carry (NaN), refused when the server starts.

The models are small pipelines trained on real MNIST digits with those
labels (bytes: scikit-learn fits none, so the names model with its classes
encoded, as a crafted file would have them); the page's side of the same
models is tested in a browser by ``test_serve_browser.py``.
"""

import json
import struct
import subprocess
import sys

import joblib
import numpy as np
import pytest
from _server import JS_NAMES, label_model_path, serving
from starlette.testclient import TestClient

import skmnist
from skmnist.apps.serve import create_app
from skmnist.apps.serve._labels import Labels
from skmnist.apps.serve._native import AnswerEncoder

# kind: (classes, their JSON values, names, the V2 label datatype)
KINDS = {
    "float": ([float(d) for d in range(10)], [f"{d}.0" for d in range(10)], "FP64"),
    "even": ([False, True], ["False", "True"], "BOOL"),
    "names": (sorted(JS_NAMES), sorted(JS_NAMES), "BYTES"),
    "bytes": (sorted(JS_NAMES), sorted(JS_NAMES), "BYTES"),
}


@pytest.fixture(scope="module")
def digits(mnist):
    _, (X_test, _) = mnist
    return X_test[:40]


@pytest.fixture(scope="module", params=sorted(KINDS))
def labelled(request, mnist, tmp_path_factory):
    path = label_model_path(request.param, mnist, tmp_path_factory)
    return request.param, path, skmnist.load(path)


def _json_label(label):
    label = label.item() if isinstance(label, np.generic) else label
    return label.decode() if isinstance(label, bytes) else label


def test_labels_are_served_as_json_values_keyed_by_name(labelled, digits):
    kind, _, model = labelled
    values, names, datatype = KINDS[kind]
    with TestClient(create_app(model, model_name="labels")) as client:
        info = client.get("/model").json()
        assert info["classes"] == values
        assert info["class_names"] == names
        answer = client.post("/predict", json={"pixels": digits.tolist()}).json()
        expected = [_json_label(label) for label in model.predict(digits)]
        assert [a["label"] for a in answer["predictions"]] == expected
        assert all(list(a["probabilities"]) == names for a in answer["predictions"])
        proba = [list(a["probabilities"].values()) for a in answer["predictions"]]
        assert proba == model.predict_proba(digits).tolist()
        # A label's JSON type is the label's: 7.0 stays a float, True a boolean.
        assert {type(a["label"]) for a in answer["predictions"]} <= {type(values[0])}

        metadata = client.get("/v2/models/labels").json()
        assert metadata["outputs"][0] == {
            "name": "label",
            "datatype": datatype,
            "shape": [-1],
        }
        request = {
            "inputs": [
                {
                    "name": "images",
                    "datatype": "UINT8",
                    "shape": [len(digits), 28, 28],
                    "data": digits.ravel().tolist(),
                }
            ],
            "outputs": [{"name": "label"}],
        }
        (output,) = client.post("/v2/models/labels/infer", json=request).json()[
            "outputs"
        ]
        assert output["datatype"] == datatype
        assert output["data"] == expected
        request["outputs"] = [{"name": "label", "parameters": {"binary_data": True}}]
        response = client.post("/v2/models/labels/infer", json=request)
        size = int(response.headers["inference-header-content-length"])
        assert _decode(datatype, response.content[size:]) == expected


def _decode(datatype, raw):
    if datatype == "BOOL":
        return np.frombuffer(raw, dtype=np.bool_).tolist()
    if datatype == "FP64":
        return np.frombuffer(raw, dtype="<f8").tolist()
    values = []
    while raw:
        (size,) = struct.unpack("<I", raw[:4])
        values.append(raw[4 : 4 + size].decode())
        raw = raw[4 + size :]
    return values


def test_bytes_labels_from_the_server_process(
    mnist, digits, tmp_path_factory, tmp_path
):
    """A model file whose classes are bytes loads; the server answers with
    their text, /model and /predict alike."""
    path = label_model_path("bytes", mnist, tmp_path_factory)
    model = skmnist.load(path)
    assert model.classes_.dtype.kind == "S"
    with serving(path, log_path=tmp_path / "serve.log") as server:
        status, _, info = server.request("GET", "/model")
        assert status == 200
        assert info["classes"] == sorted(JS_NAMES)
        status, _, answer = server.predict({"pixels": digits[:5].tolist()})
        assert status == 200
        assert [a["label"] for a in answer["predictions"]] == [
            label.decode() for label in model.predict(digits[:5])
        ]
        status, _, answer = server.predict({"pixels": digits[0].tolist()})
        assert answer["label"] in JS_NAMES
    assert "Traceback" not in server.log()


def _serve_exit(path, *args):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "skmnist",
            "serve",
            "--model",
            str(path),
            "--port",
            "0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_nan_classes_are_refused_at_start_up(serve_model_path, tmp_path):
    """A crafted model whose classes include NaN: the server refuses it with
    one line and exit status 1, rather than answering 500s."""
    model = skmnist.load(serve_model_path)
    model[-1].classes_ = np.array([np.nan, *range(1, 10)], dtype=np.float64)
    path = tmp_path / "nan.joblib"
    joblib.dump(model, path)
    result = _serve_exit(path, "--trust-pickle")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "skmnist serve: error: the model's classes include nan: a label must be a "
        "finite number, a boolean or text to be served"
    )
    # Saved in skmnist's format, the same model is refused too (by the server,
    # or already by skmnist.load), in one line.
    saved = skmnist.save(model, tmp_path / "nan.skmnist")
    result = _serve_exit(saved)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nan" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (np.array([np.nan, 1.0]), "include nan"),
        (np.array([1.0, np.inf]), "include inf"),
        (np.array([b"ok", b"\xff\xfe"]), "not UTF-8 text"),
        (np.array([1, "1"], dtype=object), "the same name '1'"),
        (np.array([1, None], dtype=object), "of type NoneType"),
        (np.zeros((2, 2)), "1-D array"),
    ],
)
def test_labels_that_cannot_be_served(classes, message):
    with pytest.raises(ValueError, match=message):
        Labels(classes)


def test_numpy_label_types():
    for classes, values, datatype in (
        (np.array([3, 7], dtype=np.uint8), [3, 7], "INT64"),
        (np.array([0.5, 2.0], dtype=np.float32), [0.5, 2.0], "FP64"),
        (np.array([np.int64(4), np.float64(1.5)], dtype=object), [4, 1.5], "FP64"),
        (np.array(["a", "b"], dtype=np.str_), ["a", "b"], "BYTES"),
        (np.array([2**63, 2**64 - 1], dtype=np.uint64), [2**63, 2**64 - 1], "BYTES"),
    ):
        labels = Labels(classes)
        assert labels.values == values
        assert labels.datatype == datatype
        json.dumps(labels.values)  # plain JSON data


@pytest.mark.parametrize(
    "classes",
    [
        np.arange(10),
        np.array([0.5, 7.0]),
        np.array([False, True]),
        np.array(["50%", "%s", "%%r", '"quoted"', "back\\slash", "é", "\n"]),
    ],
    ids=["ints", "floats", "bools", "format-like and escaped names"],
)
def test_answers_are_json_dumps_of_the_answer(classes):
    # The encoder writes answers from a %-format made once: the same text as
    # json.dumps, whatever the labels hold (% signs, quotes, escapes).
    labels = Labels(classes)
    encode = AnswerEncoder(labels)
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(len(classes)), 3).astype(np.float32)
    best = proba.argmax(axis=1)
    image = rng.integers(0, 256, (28, 28))

    def expected(i, with_image=False):
        answer = {
            "label": labels.values[best[i]],
            "probabilities": dict(zip(labels.names, proba[i].tolist(), strict=True)),
        }
        if with_image:
            answer["image"] = image.tolist()
        return answer

    compact = {"separators": (",", ":"), "ensure_ascii": True}
    single = encode(proba[:1], best[:1], batch=False)
    assert single == json.dumps(expected(0), **compact).encode()
    batch = encode(proba, best, batch=True)
    assert (
        batch
        == json.dumps(
            {"predictions": [expected(i) for i in range(3)]}, **compact
        ).encode()
    )
    pictured = encode(proba[:1], best[:1], batch=False, image=image)
    assert json.loads(pictured) == expected(0, with_image=True)
    with pytest.raises(ValueError, match="probabilities"):
        encode(proba[:, :-1], best, batch=True)
