"""The Open Inference Protocol (KServe's V2 protocol), over REST.

The protocol that Triton, KServe and MLServer speak, and their clients
(``tritonclient``...): ``GET /v2`` (server metadata), ``/v2/health/live``,
``/v2/health/ready``, and per model ``GET /v2/models/{name}`` (metadata),
``/ready``, ``POST .../infer``, each also under ``/versions/1``; and
``GET .../stats``, the counts of Triton's statistics extension in part.

The model takes one input per request, either

- ``pixels``: FP32, shape ``[-1, 784]``, values in [0, 1] (the Keras
  tutorial's ``x.reshape(-1, 784).astype("float32") / 255``), or
- ``images``: UINT8, shape ``[-1, 28, 28]``, white digit on black;

and gives two outputs: ``label`` (shape ``[-1]``; INT64, FP64, BOOL or BYTES
as the model's classes are) and ``probabilities`` (shape ``[-1, n_classes]``,
FP32 for skmnist's networks, in the order of ``GET /model``'s ``classes``).
The request's ``outputs`` choose which come back; tensors travel as JSON
``data`` or, with the binary tensor data extension, as raw little-endian
bytes after the JSON header (``Inference-Header-Content-Length``), as
``tritonclient`` sends them by default. Errors are ``{"error": "..."}`` with
status 400 (404 for an unknown model, 413/503 for the server's limits).
"""

import json
import math
import re
import struct

import numpy as np

from ..._version import __version__
from ...data._images import SIZE
from ._native import check_range, parse_json, pixel_array
from ._requests import ApiError

__all__ = ["V2Request", "check_model_name", "model_metadata", "parse_infer"]

VERSION = "1"
PLATFORM = "skmnist"
EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = "inference-header-content-length"
INPUTS = {
    "pixels": ("FP32", [-1, SIZE * SIZE]),
    "images": ("UINT8", [-1, SIZE, SIZE]),
}
OUTPUT_NAMES = ("label", "probabilities")
_FLOAT_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_model_name(name):
    """``name`` if it is a valid model name for URLs; else a ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"the model name must be 1 to 128 letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit; got {name!r}"
        )
    return name


def default_model_name(file_name):
    """A model name from a file name: its stem, other characters as ``_``."""
    stem = file_name.rsplit("/", 1)[-1].split(".", 1)[0] if file_name else ""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("_.-")[:128]
    return name or "mnist"


def server_metadata():
    return {"name": PLATFORM, "version": __version__, "extensions": EXTENSIONS}


def output_datatypes(predictor):
    return {
        "label": predictor.labels.datatype,
        "probabilities": _FLOAT_DATATYPES.get(predictor.proba_dtype, "FP64"),
    }


def model_metadata(name, predictor):
    """The model metadata answer of ``GET /v2/models/{name}``."""
    datatypes = output_datatypes(predictor)
    return {
        "name": name,
        "versions": [VERSION],
        "platform": PLATFORM,
        "inputs": [
            {"name": input_name, "datatype": datatype, "shape": shape}
            for input_name, (datatype, shape) in INPUTS.items()
        ],
        "outputs": [
            {"name": "label", "datatype": datatypes["label"], "shape": [-1]},
            {
                "name": "probabilities",
                "datatype": datatypes["probabilities"],
                "shape": [-1, len(predictor.labels)],
            },
        ],
    }


def model_statistics(name, statistics):
    """The ``GET /v2/models/{name}/stats`` answer (Triton's format, in part)."""
    return {
        "model_stats": [
            {
                "name": name,
                "version": VERSION,
                "last_inference": statistics.last_inference,
                "inference_count": statistics.inference_count,
                "execution_count": statistics.execution_count,
                "inference_stats": {
                    field: {"count": count, "ns": ns}
                    for field, (count, ns) in statistics.durations.items()
                },
            }
        ]
    }


class V2Request:
    """A parsed inference request: its input and what it wants back."""

    __slots__ = ("features", "id", "images", "n", "outputs")

    def __init__(self, *, id, images, features, outputs):
        self.id = id
        self.images = images
        self.features = features
        self.n = len(images if images is not None else features)
        self.outputs = outputs  # [(name, binary)]


def _bad(message):
    return ApiError(400, message)


def _split_body(body, header_length):
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise _bad(
            f"Inference-Header-Content-Length must be the length of the JSON "
            f"header, at most the body's {len(body)} bytes; got {header_length!r}"
        )
    size = int(header_length)
    return body[:size], body[size:]


def parse_infer(body, header_length=None):
    """Parse an inference request (JSON, or JSON then binary tensors).

    Examples
    --------
    >>> import json
    >>> from skmnist.apps.serve._v2 import parse_infer
    >>> request = {"inputs": [{"name": "images", "datatype": "UINT8",
    ...                        "shape": [1, 28, 28], "data": [0] * 784}]}
    >>> parsed = parse_infer(json.dumps(request).encode())
    >>> parsed.images.shape, parsed.outputs
    ((1, 28, 28), [('label', False), ('probabilities', False)])
    >>> request["inputs"][0]["datatype"] = "FP32"
    >>> parse_infer(json.dumps(request).encode())
    Traceback (most recent call last):
    ...
    skmnist.apps.serve._requests.ApiError: input 'images' must be UINT8, not FP32
    """
    header, binary = _split_body(body, header_length)
    try:
        document = parse_json(header)
    except ApiError as exc:
        raise _bad(exc.message) from None
    if not isinstance(document, dict):
        raise _bad("the inference request must be a JSON object")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad('"id" must be a string')
    parameters = _parameters(document.get("parameters"), "the request")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise _bad('"binary_data_output" must be true or false')
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad(
            'the request needs "inputs": a list with one input, '
            f"{' or '.join(map(repr, INPUTS))}"
        )
    if len(inputs) != 1:
        raise _bad(
            f"the request has {len(inputs)} inputs; this model takes one: "
            f"{' or '.join(map(repr, INPUTS))}"
        )
    suspicious = b"true" in header or b"false" in header
    try:
        name, array, used = _input(inputs[0], binary, suspicious=suspicious)
    except ApiError as exc:
        raise _bad(exc.message) from None
    if used != len(binary):
        raise _bad(
            f"the body has {len(binary) - used} bytes of binary data that no input "
            "declares (binary_data_size)"
        )
    outputs = _outputs(document.get("outputs"), binary_output)
    images, features = (array, None) if name == "images" else (None, array)
    return V2Request(id=request_id, images=images, features=features, outputs=outputs)


def _parameters(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f'the "parameters" of {where} must be a JSON object')
    return value


def _input(tensor, binary, *, suspicious):
    if not isinstance(tensor, dict):
        raise _bad("each input must be a JSON object")
    name = tensor.get("name")
    if name not in INPUTS:
        raise _bad(
            f"unknown input {name!r}: this model takes {' or '.join(map(repr, INPUTS))}"
        )
    datatype, shape = INPUTS[name]
    if tensor.get("datatype") != datatype:
        raise _bad(f"input {name!r} must be {datatype}, not {tensor.get('datatype')}")
    sent = tensor.get("shape")
    if (
        not isinstance(sent, list)
        or len(sent) != len(shape)
        or not all(type(d) is int and d >= 0 for d in sent)
        or sent[1:] != shape[1:]
        or sent[0] < 1
    ):
        wanted = ", ".join("n" if d == -1 else str(d) for d in shape)
        raise _bad(f"input {name!r} must have shape [{wanted}] with n >= 1; got {sent}")
    count = math.prod(sent)
    parameters = _parameters(tensor.get("parameters"), f"input {name!r}")
    size = parameters.get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise _bad(f"input {name!r} has both JSON data and binary_data_size")
        itemsize = 4 if datatype == "FP32" else 1
        if type(size) is not int or size != count * itemsize or size > len(binary):
            raise _bad(
                f"input {name!r}: binary_data_size must be {count * itemsize} (shape "
                f"{sent} of {datatype}) within the body's {len(binary)} bytes of "
                f"binary data; got {size!r}"
            )
        dtype = "<f4" if datatype == "FP32" else np.uint8
        array = np.frombuffer(binary, dtype=dtype, count=count).reshape(sent)
        used = size
    else:
        if "data" not in tensor:
            raise _bad(f"input {name!r} has no data")
        array = pixel_array(tensor["data"], f"input {name!r}", suspicious=suspicious)
        if array.size != count:
            raise _bad(
                f"input {name!r} has {array.size} values; its shape {sent} needs "
                f"{count}"
            )
        array = array.reshape(sent)
        used = 0
    if datatype == "FP32":
        check_range(array, f"input {name!r}", 0, 1)
        array = array.astype(np.float32).reshape(sent[0], -1)
    else:
        check_range(array, f"input {name!r}", 0, 255)
        if array.dtype != np.uint8:
            if not np.array_equal(array, np.round(array)):
                raise _bad(f"input {name!r} is UINT8: its values must be integers")
            array = array.astype(np.uint8)
    return name, array, used


def _outputs(requested, binary_default):
    if requested is None:
        return [(name, binary_default) for name in OUTPUT_NAMES]
    if not isinstance(requested, list) or not requested:
        raise _bad('"outputs" must be a list of outputs, each {"name": ...}')
    outputs = []
    for output in requested:
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUT_NAMES:
            raise _bad(
                f"unknown output {name!r}: this model gives "
                f"{' and '.join(map(repr, OUTPUT_NAMES))}"
            )
        parameters = _parameters(output.get("parameters"), f"output {name!r}")
        if parameters.get("classification"):
            raise _bad(
                "the classification extension is not supported: ask for "
                "'label' and 'probabilities'"
            )
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise _bad(f'output {name!r}: "binary_data" must be true or false')
        if name not in (known for known, _ in outputs):
            outputs.append((name, binary))
    return outputs


def encode_infer(model_name, request, labels, proba_datatype, proba, best):
    """``(body, headers, media type)`` of the inference response."""
    n = len(best)
    outputs, chunks = [], []
    for name, binary in request.outputs:
        if name == "label":
            datatype, shape = labels.datatype, [n]
            values = labels.v2_values(best.tolist())
            chunk = _label_bytes(datatype, values) if binary else None
        else:
            datatype, shape = proba_datatype, list(proba.shape)
            little = "<f4" if datatype == "FP32" else "<f8"
            chunk = proba.astype(little).tobytes() if binary else None
            values = None if binary else proba.ravel().tolist()
        output = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            output["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            output["data"] = values
        outputs.append(output)
    document = {"model_name": model_name, "model_version": VERSION}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = outputs
    header = json.dumps(document, allow_nan=False, separators=(",", ":")).encode()
    if not chunks:
        return header, {}, "application/json"
    return (
        header + b"".join(chunks),
        {"Inference-Header-Content-Length": str(len(header))},
        "application/octet-stream",
    )


def _label_bytes(datatype, values):
    if datatype == "BOOL":
        return np.array(values, dtype=np.bool_).tobytes()
    if datatype == "INT64":
        return np.array(values, dtype="<i8").tobytes()
    if datatype == "FP64":
        return np.array(values, dtype="<f8").tobytes()
    encoded = [str(value).encode("utf-8") for value in values]
    return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
