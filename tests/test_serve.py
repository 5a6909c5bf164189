"""``skmnist serve``: the API through Starlette's TestClient, and the server
process itself (start-up, limits, logging, signals)."""

import io
import json
import signal
import socket
import subprocess
import sys

import joblib
import numpy as np
import pytest
from _server import serving, start
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.testclient import TestClient

import skmnist
from skmnist import MNISTMLPClassifier, cli, make_mnist_pipeline
from skmnist.apps.serve import create_app
from skmnist.apps.serve._app import DEFAULT_MAX_BODY_BYTES
from skmnist.apps.serve._limits import Limits
from skmnist.apps.serve._native import _integer_image, images_from_json
from skmnist.apps.serve._options import DEFAULTS
from skmnist.apps.serve._requests import ApiError
from skmnist.data._images import read_images

N_DIGITS = 300  # real MNIST test digits sent one by one


@pytest.fixture(scope="module")
def model(serve_model_path):
    return skmnist.load(serve_model_path)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model, name="tiny.skmnist")) as client:
        yield client


@pytest.fixture(scope="module")
def test_digits(mnist):
    _, (X_test, y_test) = mnist
    return X_test[:N_DIGITS], y_test[:N_DIGITS]


def _png(image):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _post_picture(client, data, kind="image/png", query=""):
    return client.post(f"/predict{query}", content=data, headers={"Content-Type": kind})


# -- routes -------------------------------------------------------------------


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_model_description(client, model):
    response = client.get("/model")
    assert response.status_code == 200
    info = response.json()
    classifier = model[-1]
    assert info["name"] == "tiny.skmnist"
    assert info["model"] == "Pipeline"
    assert info["steps"] == [
        ["preprocess", "MNISTPreprocessor"],
        ["classifier", "MNISTMLPClassifier"],
    ]
    assert info["classifier"] == "MNISTMLPClassifier"
    assert info["classes"] == classifier.classes_.tolist()
    assert info["class_names"] == [str(c) for c in range(10)]
    assert info["input"]["shape"] == [28, 28]
    assert info["input"]["n_features"] == 784
    assert info["input"]["pixel_range"] == [0, 255]
    assert info["skmnist_version"] == skmnist.__version__
    assert info["network"] == classifier.architecture_
    dense = [layer for layer in info["network"] if layer["kind"] == "dense"]
    assert [layer["units"] for layer in dense] == [64, 10]
    assert dense[0]["activation"] == "relu"
    assert dense[-1]["activation"] == "softmax"
    json.dumps(info["network"])  # plain data


def test_page_is_self_contained(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    for needed in (
        'id="prediction"',
        'id="pad"',
        'id="clear"',
        'id="seen"',
        'id="bars"',
        'src="static/app.js"',
        'href="static/style.css"',
    ):
        assert needed in page
    files = {"app.js": "text/javascript", "style.css": "text/css"}
    for name, kind in files.items():
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        assert "://" not in asset.text, f"{name} loads something from outside"
    assert "://" not in page
    script = client.get("/static/app.js").text
    for event in ("pointerdown", "pointermove", "pointerup", '"predict"'):
        assert event in script


def test_static_files_are_only_the_pads(client):
    for path in ("/static/nope.js", "/static/index.html", "/static/..%2Fcli.py"):
        response = client.get(path)
        assert response.status_code == 404
        assert "error" in response.json()


def test_json_labels_agree_with_predict(client, model, test_digits):
    X, y = test_digits
    expected_labels = model.predict(X)
    for i, (image, label) in enumerate(zip(X, expected_labels, strict=True)):
        response = client.post("/predict", json={"pixels": image.tolist()})
        assert response.status_code == 200
        answer = response.json()
        assert set(answer) == {"label", "probabilities"}
        assert answer["label"] == label
        assert list(answer["probabilities"]) == [str(c) for c in range(10)]
        # Exactly the model's probabilities for that one image (float32
        # matrix products of one row and of many may round differently).
        assert list(answer["probabilities"].values()) == (
            model.predict_proba(X[i : i + 1])[0].tolist()
        )
    # The tiny model is right on most of them: the test digits are real.
    assert np.mean(expected_labels == y) > 0.8


def test_json_batch(client, model, test_digits):
    X, _ = test_digits
    response = client.post("/predict", json={"pixels": X[:50].tolist()})
    assert response.status_code == 200
    answers = response.json()["predictions"]
    assert [a["label"] for a in answers] == model.predict(X[:50]).tolist()
    proba = [list(a["probabilities"].values()) for a in answers]
    assert proba == model.predict_proba(X[:50]).tolist()


def test_json_pixels_are_used_as_they_are(client, model, test_digits):
    """No inversion and no rounding: a dark-on-light image is classified as
    the model sees it, and float values as floats."""
    X, _ = test_digits
    inverted = 255 - X[0].astype(np.float64)
    response = client.post("/predict", json={"pixels": inverted.tolist()})
    assert response.json()["label"] == model.predict(inverted[np.newaxis])[0]
    halves = X[1] / 2 + 0.25
    proba = client.post("/predict", json={"pixels": halves.tolist()}).json()
    np.testing.assert_allclose(
        list(proba["probabilities"].values()),
        model.predict_proba(halves[np.newaxis])[0],
        atol=1e-12,
    )


def test_png_body_is_converted_like_skmnist_predict(
    client, model, test_digits, tmp_path
):
    X, _ = test_digits
    # A test digit, a photo-like dark digit on grey paper, a small off-centre
    # one: what read_images (skmnist predict) makes of the file is what the
    # server makes of its bytes.
    paper = np.full((90, 70), 200, dtype=np.uint8)
    paper[10:80, 30:40] = 30
    small = np.zeros((60, 60), dtype=np.uint8)
    small[5:20, 40:46] = 255
    for i, picture in enumerate([X[3], paper, small]):
        path = tmp_path / f"picture{i}.png"
        Image.fromarray(picture).save(path)
        response = _post_picture(client, path.read_bytes())
        assert response.status_code == 200
        answer = response.json()
        expected = read_images(path)
        np.testing.assert_array_equal(np.array(answer["image"]), expected[0])
        assert answer["label"] == model.predict(expected)[0]


def test_jpeg_body_and_invert(client, model, test_digits, tmp_path):
    X, _ = test_digits
    path = tmp_path / "digit.jpg"
    Image.fromarray(255 - X[4]).save(path, quality=95)  # dark on light
    for invert in ("auto", "always", "never"):
        response = _post_picture(
            client, path.read_bytes(), "image/jpeg", f"?invert={invert}"
        )
        assert response.status_code == 200
        expected = read_images(path, invert=invert)
        np.testing.assert_array_equal(response.json()["image"], expected[0])
        assert response.json()["label"] == model.predict(expected)[0]


def test_bare_classifier(mnist_small, test_digits, tmp_path):
    """A classifier without the preprocessor gets pixels scaled to [0, 1]."""
    (X, y), _ = mnist_small
    bare = MNISTMLPClassifier(hidden_layer_sizes=(16,), epochs=1, random_state=0)
    bare.fit(X[:2000], y[:2000])
    digits, _ = test_digits
    loaded = skmnist.load(skmnist.save(bare, tmp_path / "bare.skmnist"))
    with TestClient(create_app(loaded)) as client:
        response = client.post("/predict", json={"pixels": digits[:20].tolist()})
        labels = [a["label"] for a in response.json()["predictions"]]
        flat = digits[:20].reshape(20, -1).astype(np.float32) / 255
        assert labels == bare.predict(flat).tolist()
        assert client.get("/model").json()["steps"] is None


def test_convnet(mnist, test_digits, tmp_path):
    """Whichever network the saved model holds is served: a ConvNet too."""
    (X_train, y_train), _ = mnist
    cnn = make_mnist_pipeline(
        "cnn", filters=(4,), dense_units=(), epochs=1, random_state=0
    ).fit(X_train[:1000], y_train[:1000])
    loaded = skmnist.load(skmnist.save(cnn, tmp_path / "cnn.skmnist"))
    digits, _ = test_digits
    with TestClient(create_app(loaded)) as client:
        info = client.get("/model").json()
        assert info["classifier"] == "MNISTCNNClassifier"
        kinds = [layer["kind"] for layer in info["network"]]
        assert {"conv2d", "max_pool2d", "flatten"} <= set(kinds)
        assert info["network"] == loaded[-1].architecture_
        response = client.post("/predict", json={"pixels": digits[:20].tolist()})
        labels = [a["label"] for a in response.json()["predictions"]]
        assert labels == loaded.predict(digits[:20]).tolist()
        answer = _post_picture(client, _png(digits[0])).json()
        assert answer["label"] == loaded.predict(np.array([answer["image"]]))[0]


# -- bad requests --------------------------------------------------------------

GOOD = np.zeros((28, 28), dtype=int).tolist()


def _json(value):
    return json.dumps(value).encode()


def _with_first(number):
    """A 28x28 JSON image of zeros, but for its first value, written as given."""
    body = _json({"pixels": GOOD})
    return body.replace(b"[[0,", b"[[" + number + b",", 1)


BAD_REQUESTS = {
    "empty JSON body": (b"", "application/json", 400, "the body is empty"),
    "empty image body": (b"", "image/png", 400, "the body is empty"),
    "invalid JSON": (b'{"pixels": [1, 2', "application/json", 400, "not valid JSON"),
    "not UTF-8": (b'{"pixels": "\xff"}', "application/json", 400, "not UTF-8"),
    "nested too deeply": (
        b"[" * 100_000 + b"]" * 100_000,
        "application/json",
        400,
        "nested too deeply",
    ),
    "JSON array": (_json([GOOD]), "application/json", 422, "must be an object"),
    "no pixels": (_json({"image": GOOD}), "application/json", 422, 'no "pixels"'),
    "pixels a number": (_json({"pixels": 3}), "application/json", 422, "shape ()"),
    "no rows": (_json({"pixels": []}), "application/json", 422, "shape (0,)"),
    "27 rows": (_json({"pixels": GOOD[:27]}), "application/json", 422, "(27, 28)"),
    "flat": (_json({"pixels": [0] * 784}), "application/json", 422, "(784,)"),
    "ragged": (
        _json({"pixels": [*GOOD[:27], [0] * 27]}),
        "application/json",
        422,
        "different lengths",
    ),
    "strings": (
        _json({"pixels": [["0"] * 28] * 28}),
        "application/json",
        422,
        "numbers only",
    ),
    "booleans": (
        _json({"pixels": [[True] * 28] * 28}),
        "application/json",
        422,
        "numbers only",
    ),
    "null": (
        _json({"pixels": [[None] * 28] * 28}),
        "application/json",
        422,
        "numbers only",
    ),
    "above 255": (
        _json({"pixels": [[256] * 28] * 28}),
        "application/json",
        422,
        "must lie in [0, 255]; got values from 256 to 256",
    ),
    "negative": (
        _json({"pixels": [[-1] + [0] * 27] * 28}),
        "application/json",
        422,
        "from -1 to 0",
    ),
    "NaN": (_with_first(b"NaN"), "application/json", 422, "found NaN"),
    "Infinity": (_with_first(b"Infinity"), "application/json", 422, "0 to inf"),
    "1e999": (_with_first(b"1e999"), "application/json", 422, "0 to inf"),
    "-1e999": (_with_first(b"-1e999"), "application/json", 422, "from -inf to 0"),
    "2**70": (_with_first(b"%d" % 2**70), "application/json", 422, "to 1180591620"),
    "10**400": (
        _with_first(b"1" + b"0" * 400),
        "application/json",
        422,
        "an integer too large for a float",
    ),
    "5,000 digits": (
        _with_first(b"9" * 5000),
        "application/json",
        422,
        "a number out of any range",
    ),
    "a boolean among numbers": (
        _with_first(b"true"),
        "application/json",
        422,
        "numbers only",
    ),
    "a string among numbers": (
        _with_first(b'"7"'),
        "application/json",
        422,
        "numbers only",
    ),
    "null among numbers": (_with_first(b"null"), "application/json", 422, "numbers"),
    # Every character of "pixels" in order, but another key: a 500 before.
    "a key spelled with a space": (
        _json({"pix els": GOOD}),
        "application/json",
        422,
        'has no "pixels"',
    ),
    "not an image": (b"GIF? no, text", "image/png", 415, "not an image"),
    "truncated PNG": (None, "image/png", 400, "cannot read the image"),
    "text/plain": (_json({"pixels": GOOD}), "text/plain", 415, "text/plain"),
    "no content type": (_json({"pixels": GOOD}), None, 415, "no Content-Type"),
    "form": (b"pixels=1", "application/x-www-form-urlencoded", 415, "send"),
    "GIF": (b"GIF89a", "image/gif", 415, "image/gif"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request(client, case):
    body, kind, status, message = BAD_REQUESTS[case]
    if body is None:  # a PNG cut short
        noise = np.random.default_rng(0).integers(0, 256, (28, 28))
        body = _png(noise)[:300]  # of about 850 bytes
    headers = {"Content-Type": kind} if kind else {}
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]
    assert "Traceback" not in response.text
    assert client.get("/health").status_code == 200  # still serving


@settings(max_examples=60, deadline=None)
@given(
    pixels=st.lists(
        st.lists(st.integers(-3, 300), min_size=27, max_size=29),
        min_size=27,
        max_size=29,
    ),
    indent=st.sampled_from([None, 0, 2, "\t"]),
    separators=st.sampled_from([None, (",", ":"), (" , ", " : ")]),
)
def test_integer_pixels_read_as_the_general_path_reads_them(pixels, indent, separators):
    """Bodies of integers (the drawing pad's) take a shorter path to their
    array: the same array, or the same refusal, as NumPy's reading of the
    parsed lists, however the JSON is spaced."""
    body = json.dumps({"pixels": pixels}, indent=indent, separators=separators)
    body = body.encode()
    try:
        got = images_from_json(body)
    except ApiError as exc:
        got = exc.status
    array = np.array(pixels, dtype=object)
    servable = array.shape == (28, 28) and ((array >= 0) & (array <= 255)).all()
    if servable:
        images, batch = got
        assert batch is False
        assert images.dtype == np.float64
        np.testing.assert_array_equal(images, np.array([pixels], dtype=np.float64))
    else:
        assert got == 422
    # The short path takes exactly these bodies: single images in range.
    assert (_integer_image(json.loads(body), body) is not None) == servable


def test_a_subclass_predict_proba_is_served(mnist):
    """The server computes skmnist's networks' probabilities without
    predict_proba's checks of what it has checked itself, but a subclass
    that has its own predict_proba is asked."""

    class Uniform(MNISTMLPClassifier):
        def predict_proba(self, X):
            proba = super().predict_proba(X)
            return np.full_like(proba, 1 / proba.shape[1])

    (X, y), _ = mnist
    model = make_mnist_pipeline(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    model.steps[-1] = ("classifier", Uniform(hidden_layer_sizes=(8,), epochs=1))
    model.fit(X[:200], y[:200])
    with TestClient(create_app(model)) as client:
        answer = client.post("/predict", json={"pixels": X[0].tolist()}).json()
    served = list(answer["probabilities"].values())
    assert served == model.predict_proba(X[:1])[0].tolist()
    assert len(set(served)) == 1  # the subclass's, not the network's


def test_bad_invert(client, test_digits):
    response = _post_picture(client, _png(test_digits[0][0]), query="?invert=yes")
    assert response.status_code == 422
    assert "invert must be one of auto, always, never" in response.json()["error"]


def test_unknown_routes_and_methods(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "no such page: GET /nope"}
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"].startswith("GET is not allowed on /predict")
    response = client.post("/health")
    assert response.status_code == 405
    assert "error" in response.json()


def test_body_limit(model, test_digits):
    png = _png(test_digits[0][0])
    with TestClient(create_app(model, max_body_bytes=len(png) - 1)) as client:
        response = _post_picture(client, png)
        assert response.status_code == 413
        assert "limit of" in response.json()["error"]
        # Without a Content-Length (chunked), the limit holds as well.
        response = client.post(
            "/predict",
            content=iter([png[:100], png[100:]]),
            headers={"Content-Type": "image/png"},
        )
        assert response.status_code == 413
    with TestClient(create_app(model, max_body_bytes=len(png))) as client:
        assert _post_picture(client, png).status_code == 200


def test_image_pixel_limit(model):
    with TestClient(create_app(model, max_image_pixels=40 * 40)) as client:
        big = np.zeros((41, 40), dtype=np.uint8)
        big[10:30, 18:22] = 255
        response = _post_picture(client, _png(big))
        assert response.status_code == 413
        assert "40x41 pixels, more than the limit of 1600" in response.json()["error"]
        assert _post_picture(client, _png(big[:40])).status_code == 200


def test_pictures_without_pillow(model, test_digits, monkeypatch):
    """Without Pillow the server starts, answers JSON, and says why it
    refuses pictures."""
    from skmnist.data import _images

    def no_pillow():
        raise ImportError("reading image files needs Pillow, which is not installed")

    monkeypatch.setattr(_images, "_import_pil", no_pillow)
    with TestClient(create_app(model)) as client:
        response = _post_picture(client, _png(test_digits[0][0]))
        assert response.status_code == 415
        assert "cannot read pictures" in response.json()["error"]
        assert "Pillow" in response.json()["error"]
        response = client.post("/predict", json={"pixels": GOOD})
        assert response.status_code == 200


class _BrokenModel:
    """Fails on any image but a blank one (the start-up warm-up)."""

    classes_ = np.arange(10)
    n_features_in_ = 784
    broken_on_blank = False

    def predict_proba(self, X):
        if self.broken_on_blank or np.any(X):
            raise RuntimeError("a bug in the model")
        return np.full((len(X), 10), 0.1)


def test_unexpected_failure_is_a_json_500(caplog):
    with TestClient(create_app(_BrokenModel())) as client:
        response = client.post("/predict", json={"pixels": [[1] * 28] * 28})
        assert response.status_code == 500
        assert response.json() == {"error": "internal server error"}
        assert "a bug in the model" not in response.text
        assert client.get("/health").status_code == 200
    assert "a bug in the model" in caplog.text  # logged for the operator


class _Seen:
    """An ASGI app in front of another, noting the paths of the HTTP requests."""

    def __init__(self, app):
        self.app, self.paths = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def test_predict_skips_the_router_with_the_routers_answers(model, test_digits):
    """POST /predict goes to its endpoint without Starlette's middleware and
    router, and answers as they do: the same request to an identical app under
    a root path (which only the router strips), so through them, gets the same
    answer, errors included."""
    digit = test_digits[0][0]
    limit = 20_000
    too_large = f"the body is larger than the limit of {limit} bytes (--max-body-bytes)"
    json_type = "application/json"
    cases = {  # body, Content-Type, query, status, the error (None: none)
        "good": (_json({"pixels": digit.tolist()}), json_type, "", 200, None),
        "batch": (_json({"pixels": [GOOD, GOOD]}), json_type, "", 200, None),
        "picture": (_png(digit), "image/png", "?invert=never", 200, None),
        "malformed JSON": (
            b'{"pixels": [1, 2',
            json_type,
            "",
            400,
            "the body is not valid JSON: Expecting ',' delimiter: line 1 column 17 "
            "(char 16)",
        ),
        "empty": (
            b"",
            json_type,
            "",
            400,
            "the body is empty: send the image to classify",
        ),
        "wrong shape": (
            _json({"pixels": [[1, 2], [3, 4]]}),
            json_type,
            "",
            422,
            '"pixels" must be 28x28 images (28 rows of 28 values); got images '
            "of shape (2, 2)",
        ),
        "wrong content type": (
            _json({"pixels": GOOD}),
            "text/plain",
            "",
            415,
            "Content-Type 'text/plain': send application/json "
            '({"pixels": ...}), image/png or image/jpeg',
        ),
        "no content type": (
            _json({"pixels": GOOD}),
            None,
            "",
            415,
            'no Content-Type: send application/json ({"pixels": ...}), image/png '
            "or image/jpeg",
        ),
        "bad invert": (
            _png(digit),
            "image/png",
            "?invert=yes",
            422,
            "invert must be one of auto, always, never; got 'yes'",
        ),
        "oversized": (
            b"[" * (limit + 1),
            json_type,
            "",
            413,
            f"{too_large} ({limit + 1} bytes)",
        ),
        "oversized, chunked": (b"[" * (limit + 1), json_type, "", 413, too_large),
    }
    direct, routed = (create_app(model, max_body_bytes=limit) for _ in range(2))
    direct.app, routed.app = _Seen(direct.app), _Seen(routed.app)
    with (
        TestClient(direct) as direct_client,
        TestClient(routed, root_path="/api") as routed_client,
    ):
        for case, (body, kind, query, status, message) in cases.items():
            headers = {"Content-Type": kind} if kind else {}
            chunked = "chunked" in case  # sent without a Content-Length
            answer, expected = (
                client.post(
                    f"{root}/predict{query}",
                    content=iter([body[:100], body[100:]]) if chunked else body,
                    headers=headers,
                )
                for client, root in ((direct_client, ""), (routed_client, "/api"))
            )
            assert expected.status_code == status, (case, expected.text)
            assert answer.status_code == status, (case, answer.text)
            assert answer.headers == expected.headers, case
            assert answer.json() == expected.json(), case
            if status != 200:
                assert set(answer.json()) == {"error"}, case
            if message is not None:
                assert answer.json() == {"error": message}, case
        assert direct_client.get("/health").status_code == 200
    # Starlette's middleware and router saw none of the direct app's
    # predictions, and all of the other's.
    assert direct.app.paths == ["/health"]
    assert routed.app.paths == ["/api/predict"] * len(cases)
    # Both counted them alike (the V2 statistics).
    for stats in direct.statistics, routed.statistics:
        assert stats.inference_count == 4  # the good, the batch's 2, the picture
        assert [stats.durations[field][0] for field in ("success", "fail")] == [
            3,
            len(cases) - 3,
        ]


def test_create_app_refuses_unfit_models(model):
    with pytest.raises(ValueError, match="not a fitted classifier"):
        create_app(skmnist.MNISTPreprocessor())
    wide = _BrokenModel()
    wide.n_features_in_ = 100
    with pytest.raises(ValueError, match="expects 100 features"):
        create_app(wide)
    with pytest.raises(ValueError, match="must be positive"):
        create_app(model, max_body_bytes=0)
    broken = _BrokenModel()
    broken.broken_on_blank = True
    with pytest.raises(ValueError, match="fails to classify a blank image"):
        create_app(broken)


# -- imports -------------------------------------------------------------------


def _fresh_python(code):
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_import_skmnist_leaves_the_server_out():
    loaded = _fresh_python(
        "import sys, skmnist, skmnist.cli; print(*sorted(m for m in ('starlette', "
        "'uvicorn', 'fastapi', 'httpx', 'skmnist.apps.serve._app') "
        "if m in sys.modules))"
    )
    assert loaded == []


def test_serving_never_imports_tensorflow(serve_model_path):
    code = f"""
import io, sys
import numpy as np
from PIL import Image
from starlette.testclient import TestClient
import skmnist
from skmnist.apps.serve._app import create_app
client = TestClient(create_app(skmnist.load({str(serve_model_path)!r})))
image = np.zeros((28, 28), dtype=np.uint8)
image[5:23, 13:15] = 255
buffer = io.BytesIO()
Image.fromarray(image).save(buffer, format="PNG")
assert client.post("/predict", json={{"pixels": image.tolist()}}).status_code == 200
response = client.post("/predict", content=buffer.getvalue(),
                       headers={{"Content-Type": "image/png"}})
assert response.status_code == 200
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    assert _fresh_python(code) == ["False", "False"]


# -- the command and the server process ------------------------------------------


def test_serve_arguments():
    args = cli.build_parser().parse_args(["serve", "--model", "m.skmnist"])
    assert (args.host, args.port, args.max_body_bytes, args.trust_pickle) == (
        "127.0.0.1",
        8000,
        DEFAULT_MAX_BODY_BYTES,
        False,
    )
    assert (args.workers, args.model_name, args.max_batch_images) == (1, None, 256)
    # The parser's defaults are the server's (repeated so that building the
    # parser imports nothing of the server).
    defaults = Limits()
    for name, value in DEFAULTS.items():
        assert getattr(args, name) == value == getattr(defaults, name), name
    for bad in (
        ["--port", "70000"],
        ["--port", "-1"],
        ["--max-body-bytes", "0"],
        ["--workers", "0"],
        ["--header-timeout", "0"],
        ["--body-timeout", "inf"],
        ["--max-request-memory", "x"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.build_parser().parse_args(["serve", "--model", "m", *bad])
        assert exit_info.value.code == 2


def test_pickle_files_need_the_flag(model, tmp_path, capsys):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    assert cli.main(["serve", "--model", str(path), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "runs code when loaded" in err
    assert "--trust-pickle" in err
    with serving(path, "--trust-pickle", log_path=tmp_path / "log") as server:
        status, _, answer = server.request(
            "POST",
            "/predict",
            json.dumps({"pixels": GOOD}),
            {"Content-Type": "application/json"},
        )
        assert status == 200
        assert answer["label"] == model.predict(np.zeros((1, 28, 28)))[0]


def test_missing_model_file(tmp_path, capsys):
    assert cli.main(["serve", "--model", str(tmp_path / "none.skmnist")]) == 1
    assert "none.skmnist" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_server_process(serve_model_path, model, test_digits, tmp_path, sig):
    """Listens on loopback only, answers, logs each request, stops cleanly."""
    X, _ = test_digits
    server = start(serve_model_path, log_path=tmp_path / "serve.log")
    try:
        assert server.host == "127.0.0.1"
        paths = []
        for image in X[:5]:
            status, _, answer = server.request(
                "POST",
                "/predict",
                json.dumps({"pixels": image.tolist()}),
                {"Content-Type": "application/json"},
            )
            assert status == 200
            paths.append(answer["label"])
        assert paths == model.predict(X[:5]).tolist()
        status, _, answer = server.request("GET", "/nope")
        assert (status, answer) == (404, {"error": "no such page: GET /nope"})
        # The port is taken: a second server says so and exits with 1.
        busy = subprocess.run(
            [
                sys.executable,
                "-m",
                "skmnist",
                "serve",
                "--model",
                str(serve_model_path),
                "--port",
                str(server.port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert busy.returncode == 1
        assert "skmnist serve: error:" in busy.stderr
        assert "Traceback" not in busy.stderr
    finally:
        returncode = server.stop(sig)
    assert returncode == 0
    log = server.log()
    assert f"stopped ({sig.name})" in log
    assert "Traceback" not in log
    lines = server.request_lines()
    # The start-up health checks, the 5 predictions, the 404.
    assert [line["path"] for line in lines if line["method"] == "POST"] == [
        "/predict"
    ] * 5
    assert lines[-1]["path"] == "/nope" and lines[-1]["status"] == "404"
    assert all(line["client"].startswith("127.0.0.1:") for line in lines)


def _raw_exchange(server, head, body_parts=()):
    """Send a raw request head and body parts; the whole response (the server
    closes the connection after a 413)."""
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


def test_oversized_bodies_are_refused_unread(serve_model_path, tmp_path):
    """413 comes back before the client has sent the body it announced (or,
    chunked, once the limit is passed), so a huge upload is never read."""
    with serving(
        serve_model_path, "--max-body-bytes", "1000", log_path=tmp_path / "log"
    ) as server:
        announced = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        response = _raw_exchange(server, announced, [b"\x89PNG" * 10])
        assert response.startswith(b"HTTP/1.1 413 ")
        assert b"the body is larger than the limit of 1000 bytes" in response
        chunked = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"  # 1,024 bytes
        response = _raw_exchange(server, chunked, [chunk, chunk])
        assert response.startswith(b"HTTP/1.1 413 ")
        status, _, _ = server.request("GET", "/health")
        assert status == 200


# -- pictures: PNG and JPEG only, by their signature ----------------------------


def _encoded(image, format_, **options):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=format_, **options)
    return buffer.getvalue()


OTHER_FORMATS = {
    "GIF": ("GIF", {}),
    "TIFF": ("TIFF", {}),
    "BMP": ("BMP", {}),
    "ICO": ("ICO", {}),
    "WEBP": ("WEBP", {}),
    "PPM": ("PPM", {}),
}


@pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
@pytest.mark.parametrize("kind", ["image/png", "image/jpeg"])
def test_only_png_and_jpeg_are_decoded(client, test_digits, name, kind):
    """Every picture format Pillow reads but PNG and JPEG is refused, whatever
    the Content-Type claims: no other decoder is reachable from the network."""
    format_, options = OTHER_FORMATS[name]
    body = _encoded(test_digits[0][0], format_, **options)
    response = _post_picture(client, body, kind)
    assert response.status_code == 415
    assert "only PNG and JPEG" in response.json()["error"]
    assert client.get("/health").status_code == 200


def test_pictures_are_read_by_their_signature(client, model, test_digits):
    """A JPEG sent as image/png (or a PNG as image/jpeg) is read as what it is."""
    digit = test_digits[0][0]
    for body, kind in (
        (_encoded(digit, "JPEG", quality=95), "image/png"),
        (_png(digit), "image/jpeg"),
    ):
        response = _post_picture(client, body, kind)
        assert response.status_code == 200
        image = np.array(response.json()["image"])
        assert response.json()["label"] == model.predict(image[np.newaxis])[0]
