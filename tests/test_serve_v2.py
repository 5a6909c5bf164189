"""The Open Inference Protocol (KServe V2, REST) of ``skmnist serve``.

With a real client of the protocol, Triton's ``tritonclient[http]``
(``InferenceServerClient``), against the real server process; then the
protocol's details (JSON and binary tensors, outputs, errors) through
Starlette's TestClient.
"""

import json

import numpy as np
import pytest
import tritonclient.http as triton
from _server import serving
from starlette.testclient import TestClient
from threadpoolctl import threadpool_limits
from tritonclient.utils import InferenceServerException

import skmnist
from skmnist.apps.serve import create_app

MODEL = "mnist"


def _computed_as_the_server_does(compute):
    """``compute()`` with NumPy's BLAS on one thread, as each server process
    computes (other thread counts may round float32 products differently)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return compute()


@pytest.fixture(scope="module")
def model(serve_model_path):
    return skmnist.load(serve_model_path)


@pytest.fixture(scope="module")
def digits(mnist):
    _, (X_test, _) = mnist
    return X_test[:64]


@pytest.fixture(scope="module")
def server(serve_model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("v2") / "serve.log"
    with serving(serve_model_path, "--model-name", MODEL, log_path=log) as server:
        yield server


@pytest.fixture(scope="module")
def client(server):
    client = triton.InferenceServerClient(f"{server.host}:{server.port}")
    yield client
    client.close()


# -- with tritonclient, against the server process ------------------------------


def test_health_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready("other")
    server = client.get_server_metadata()
    assert server["name"] == "skmnist"
    assert server["version"] == skmnist.__version__
    assert server["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata(MODEL)
    assert metadata == {
        "name": MODEL,
        "versions": ["1"],
        "platform": "skmnist",
        "inputs": [
            {"name": "pixels", "datatype": "FP32", "shape": [-1, 784]},
            {"name": "images", "datatype": "UINT8", "shape": [-1, 28, 28]},
        ],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
        ],
    }


def test_infer_images_as_the_client_sends_them(client, model, digits):
    """tritonclient's defaults: the input as binary tensor data, every output
    in binary; the answers are the model's own for the same batch."""
    images = triton.InferInput("images", list(digits.shape), "UINT8")
    images.set_data_from_numpy(digits)
    result = client.infer(MODEL, [images], request_id="batch-1")
    response = result.get_response()
    assert response["model_name"] == MODEL
    assert response["model_version"] == "1"
    assert response["id"] == "batch-1"
    labels = result.as_numpy("label")
    proba = result.as_numpy("probabilities")
    assert labels.dtype == np.int64 and labels.shape == (64,)
    np.testing.assert_array_equal(labels, model.predict(digits))
    assert proba.dtype == np.float32 and proba.shape == (64, 10)
    expected = _computed_as_the_server_does(lambda: model.predict_proba(digits))
    np.testing.assert_array_equal(proba, expected)


def test_infer_pixels_in_json_and_the_outputs_asked_for(client, model, digits):
    """The Keras tutorial's input (784 floats in [0, 1]), as JSON; the request's
    outputs choose what comes back, and how."""
    pixels = triton.InferInput("pixels", [len(digits), 784], "FP32")
    pixels.set_data_from_numpy(
        digits.reshape(len(digits), -1).astype("float32") / 255, binary_data=False
    )
    only_proba = [triton.InferRequestedOutput("probabilities", binary_data=False)]
    result = client.infer(MODEL, [pixels], outputs=only_proba)
    (output,) = result.get_response()["outputs"]
    assert output["name"] == "probabilities" and "data" in output
    assert result.as_numpy("label") is None
    np.testing.assert_array_equal(
        result.as_numpy("probabilities"),
        _computed_as_the_server_does(lambda: model.predict_proba(digits)),
    )
    only_label = [triton.InferRequestedOutput("label", binary_data=True)]
    result = client.infer(MODEL, [pixels], outputs=only_label, model_version="1")
    (output,) = result.get_response()["outputs"]
    assert output["parameters"]["binary_data_size"] == 8 * len(digits)
    np.testing.assert_array_equal(result.as_numpy("label"), model.predict(digits))


@pytest.mark.parametrize(
    ("name", "shape", "datatype", "data", "status", "message"),
    [
        ("pixels", [1, 784], "FP64", np.zeros((1, 784)), "400", "must be FP32"),
        ("pixels", [1, 28, 28], "FP32", np.zeros((1, 28, 28), "f4"), "400", "shape"),
        ("pixels", [1, 784], "FP32", np.full((1, 784), 2, "f4"), "400", "[0, 1]"),
        ("pixels", [1, 784], "FP32", np.full((1, 784), np.nan, "f4"), "400", "NaN"),
        ("images", [1, 784], "UINT8", np.zeros((1, 784), "u1"), "400", "[n, 28, 28]"),
        ("digits", [1, 784], "FP32", np.zeros((1, 784), "f4"), "400", "unknown input"),
    ],
)
def test_errors_in_the_protocols_format(
    client, server, name, shape, datatype, data, status, message
):
    tensor = triton.InferInput(name, shape, datatype)
    tensor.set_data_from_numpy(data)
    with pytest.raises(InferenceServerException) as error:
        client.infer(MODEL, [tensor])
    assert error.value.status() == status
    assert message in error.value.message()
    assert server.request("GET", "/v2/health/live")[0] == 200


def test_unknown_model_and_version(client, digits):
    images = triton.InferInput("images", [1, 28, 28], "UINT8")
    images.set_data_from_numpy(digits[:1])
    with pytest.raises(InferenceServerException) as error:
        client.infer("other", [images])
    assert error.value.status() == "404"
    assert "unknown model 'other': this server serves 'mnist'" in error.value.message()
    with pytest.raises(InferenceServerException) as error:
        client.get_model_metadata(MODEL, "2")
    assert error.value.status() == "404"
    assert "unknown version '2'" in error.value.message()


def test_statistics_count_the_images(client, digits):
    before = client.get_inference_statistics(MODEL)["model_stats"][0]
    images = triton.InferInput("images", [10, 28, 28], "UINT8")
    images.set_data_from_numpy(digits[:10])
    client.infer(MODEL, [images])
    after = client.get_inference_statistics(MODEL)["model_stats"][0]
    assert after["inference_count"] == before["inference_count"] + 10
    assert after["execution_count"] == before["execution_count"] + 1
    success = after["inference_stats"]["success"]
    assert success["count"] == before["inference_stats"]["success"]["count"] + 1
    assert success["ns"] > before["inference_stats"]["success"]["ns"]


# -- the protocol's details ---------------------------------------------------------


@pytest.fixture(scope="module")
def app_client(model):
    with TestClient(create_app(model, model_name=MODEL)) as client:
        yield client


def _infer(app_client, request, *, binary=b"", headers=None):
    body = json.dumps(request).encode() if not isinstance(request, bytes) else request
    headers = dict(headers or {})
    if binary:
        headers["Inference-Header-Content-Length"] = str(len(body))
    return app_client.post(
        f"/v2/models/{MODEL}/infer", content=body + binary, headers=headers
    )


def _images_input(data, shape=(1, 28, 28), **extra):
    return {
        "name": "images",
        "datatype": "UINT8",
        "shape": list(shape),
        **extra,
        "data": data,
    }


def test_json_data_may_be_nested_or_flat(app_client, model, digits):
    for data in (digits[:2].tolist(), digits[:2].ravel().tolist()):
        response = _infer(app_client, {"inputs": [_images_input(data, (2, 28, 28))]})
        assert response.status_code == 200
        outputs = {o["name"]: o for o in response.json()["outputs"]}
        assert outputs["label"] == {
            "name": "label",
            "datatype": "INT64",
            "shape": [2],
            "data": model.predict(digits[:2]).tolist(),
        }
        assert outputs["probabilities"]["shape"] == [2, 10]
        np.testing.assert_array_equal(
            np.array(outputs["probabilities"]["data"], dtype=np.float32),
            model.predict_proba(digits[:2]).ravel(),
        )


def test_binary_outputs_follow_the_json_header(app_client, model, digits):
    header = {
        "inputs": [
            {
                "name": "images",
                "datatype": "UINT8",
                "shape": [3, 28, 28],
                "parameters": {"binary_data_size": 3 * 784},
            }
        ],
        "outputs": [
            {"name": "probabilities", "parameters": {"binary_data": True}},
            {"name": "label", "parameters": {"binary_data": False}},
        ],
    }
    response = _infer(app_client, header, binary=digits[:3].tobytes())
    assert response.status_code == 200
    size = int(response.headers["inference-header-content-length"])
    document = json.loads(response.content[:size])
    proba, label = document["outputs"]
    assert proba["parameters"] == {"binary_data_size": 3 * 10 * 4}
    np.testing.assert_array_equal(
        np.frombuffer(response.content[size:], dtype="<f4").reshape(3, 10),
        model.predict_proba(digits[:3]),
    )
    assert label["data"] == model.predict(digits[:3]).tolist()


ZEROS = [0] * 784


@pytest.mark.parametrize(
    ("request_", "headers", "binary", "status", "message"),
    [
        (b"{not json", {}, b"", 400, "not valid JSON"),
        ([], {}, b"", 400, "must be a JSON object"),
        ({"inputs": []}, {}, b"", 400, 'needs "inputs"'),
        (
            {"inputs": [_images_input(ZEROS), _images_input(ZEROS)]},
            {},
            b"",
            400,
            "has 2 inputs; this model takes one",
        ),
        ({"inputs": [_images_input(ZEROS[:700])]}, {}, b"", 400, "has 700 values"),
        ({"inputs": [_images_input([1.5] * 784)]}, {}, b"", 400, "must be integers"),
        ({"inputs": [_images_input([256] * 784)]}, {}, b"", 400, "[0, 255]"),
        ({"inputs": [_images_input([True] * 784)]}, {}, b"", 400, "numbers only"),
        (
            b'{"inputs": [{"name": "images", "datatype": "UINT8", '
            b'"shape": [1, 28, 28], "data": [' + b"9" * 5000 + b"]}]}",
            {},
            b"",
            400,
            "out of any range",
        ),
        (
            {"inputs": [_images_input(ZEROS)], "outputs": [{"name": "logits"}]},
            {},
            b"",
            400,
            "unknown output 'logits'",
        ),
        (
            {
                "inputs": [_images_input(ZEROS)],
                "outputs": [{"name": "label", "parameters": {"classification": 3}}],
            },
            {},
            b"",
            400,
            "classification extension is not supported",
        ),
        ({"inputs": [_images_input(ZEROS)], "id": 7}, {}, b"", 400, '"id" must be'),
        (
            {"inputs": [_images_input(None, parameters={"binary_data_size": 784})]},
            {},
            bytes(784),
            400,
            "both JSON data and binary_data_size",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "images",
                        "datatype": "UINT8",
                        "shape": [1, 28, 28],
                        "parameters": {"binary_data_size": 784},
                    }
                ]
            },
            {},
            bytes(790),
            400,
            "6 bytes of binary data that no input declares",
        ),
        (
            {"inputs": [_images_input(ZEROS)]},
            {"Content-Encoding": "gzip"},
            b"",
            415,
            "send the request uncompressed",
        ),
        (
            {"inputs": [_images_input(ZEROS)]},
            {"Inference-Header-Content-Length": "999999"},
            b"",
            400,
            "Inference-Header-Content-Length",
        ),
    ],
)
def test_bad_inference_requests(app_client, request_, headers, binary, status, message):
    response = _infer(app_client, request_, binary=binary, headers=headers)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]


def test_health_routes(app_client):
    assert app_client.get("/v2/health/live").json() == {"live": True}
    assert app_client.get("/v2/health/ready").json() == {"ready": True}
    ready = app_client.get(f"/v2/models/{MODEL}/versions/1/ready")
    assert ready.json() == {"name": MODEL, "ready": True}
    assert app_client.get("/v2/models/other/ready").status_code == 404
    assert app_client.get(f"/v2/models/{MODEL}/versions/2/ready").status_code == 404
