"""Model values as JSON and ``.npy`` arrays, and back, with nothing executable.

Values that JSON does not tell apart are tagged: a tuple is
``{"__tuple__": [...]}``, a dict ``{"__dict__": [[key, value], ...]}``, an
array ``{"__ndarray__": "arrays/0.npy"}``, an array of Python objects (string
class labels, feature names) ``{"__object_array__": [...], "shape": [...]}``,
a NumPy scalar ``{"__scalar__": dtype, "value": ...}``, a non-finite float
``{"__float__": "nan"}``, a ``RandomState`` its state and a layer
(:mod:`skmnist.layers`) its configuration, ``{"__layer__": {"kind": ...}}``.
Anything else, such as a callable, cannot be stored.
"""

import json
import math
import struct

import numpy as np

from ..layers import Layer, layer_from_config

_ARRAY_DIR = "arrays/"


class _NotStorable(ValueError):
    """A value that the format cannot hold without pickling code."""


def array_name(i):
    return f"{_ARRAY_DIR}{i}.npy"


def encode_mapping(mapping, arrays, where):
    encoded = {}
    for name, value in mapping.items():
        try:
            encoded[name] = _encode(value, arrays)
        except _NotStorable as exc:
            raise ValueError(
                f"cannot save {where}: {name} holds {exc}; skmnist.save stores "
                "plain data only (numbers, strings, lists, dicts, tuples and "
                "NumPy arrays). Use joblib or skops.io to save such a model."
            ) from None
    return encoded


def _encode(value, arrays):
    """``value`` as JSON, with tags for what JSON cannot say by itself."""
    # Exact types: subclasses (NumPy scalars, enums...) need their own tags.
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return _encode_scalar(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, arrays)
    if type(value) is list:
        return [_encode(item, arrays) for item in value]
    if type(value) is tuple:
        return {"__tuple__": [_encode(item, arrays) for item in value]}
    if type(value) is dict:
        return {
            "__dict__": [
                [_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()
            ]
        }
    if type(value) is np.random.RandomState:
        return _encode_random_state(value, arrays)
    if isinstance(value, Layer):
        # A layer is its configuration, plain JSON; load builds it again
        # through the registry of layer kinds, never from code in the file.
        return {"__layer__": value.get_config()}
    raise _NotStorable(f"a {type(value).__module__}.{type(value).__qualname__}")


def _encode_scalar(value):
    if value.dtype.hasobject or value.dtype.kind not in "biufcUS":
        raise _NotStorable(f"a NumPy scalar of dtype {value.dtype}")
    item = value.item()
    if isinstance(item, complex):
        item = {"__complex__": [_float_json(item.real), _float_json(item.imag)]}
    elif isinstance(item, bytes):
        item = item.decode("latin-1")
    elif isinstance(item, float):
        item = _float_json(item)
    return {"__scalar__": value.dtype.str, "value": item}


def _float_json(x):
    return x if math.isfinite(x) else {"__float__": repr(x)}


def _encode_array(array, arrays):
    if array.dtype.hasobject:
        if array.dtype != object:
            raise _NotStorable(f"an array of dtype {array.dtype} with Python objects")
        # String labels and feature names: each element must be plain data
        # itself (a str, an int...), stored in the JSON rather than pickled.
        try:
            items = [_encode(item, arrays) for item in array.ravel().tolist()]
        except _NotStorable as exc:
            raise _NotStorable(f"an object array containing {exc}") from None
        return {"__object_array__": items, "shape": list(array.shape)}
    arrays.append(np.ascontiguousarray(array) if array.ndim else array)
    return {"__ndarray__": array_name(len(arrays) - 1)}


def _encode_random_state(rng, arrays):
    bit_generator, keys, pos, has_gauss, cached_gaussian = rng.get_state()
    return {
        "__random_state__": {
            "bit_generator": bit_generator,
            "keys": _encode_array(np.asarray(keys), arrays),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": _float_json(float(cached_gaussian)),
        }
    }


# What decoding a crafted manifest or member can raise besides ValueError and
# the zip errors: each becomes a ValueError that names the file.
DECODE_ERRORS = (
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    MemoryError,
    SyntaxError,
    struct.error,
    OSError,
)


def decode_mapping(mapping, read_array, path):
    if not isinstance(mapping, dict):
        raise ValueError(f"{path}: corrupt skmnist model file: expected a mapping")
    return {name: _decode(value, read_array, path) for name, value in mapping.items()}


def _decode(value, read_array, path):
    if isinstance(value, list):
        return [_decode(item, read_array, path) for item in value]
    if not isinstance(value, dict):
        return value  # None, bool, int, float, str
    try:
        if "__ndarray__" in value:
            return read_array(value["__ndarray__"])
        if "__tuple__" in value:
            return tuple(_decode(item, read_array, path) for item in value["__tuple__"])
        if "__dict__" in value:
            return {
                _hashable(_decode(k, read_array, path)): _decode(v, read_array, path)
                for k, v in value["__dict__"]
            }
        if "__float__" in value:
            text = value["__float__"]
            if not isinstance(text, str):
                raise TypeError(f"a float tag holds {type(text).__name__}")
            return float(text)
        if "__object_array__" in value:
            items = [
                _decode(item, read_array, path) for item in value["__object_array__"]
            ]
            array = np.empty(len(items), dtype=object)
            array[:] = items
            return array.reshape(value["shape"])
        if "__scalar__" in value:
            return _decode_scalar(value, read_array, path)
        if "__random_state__" in value:
            return _decode_random_state(value["__random_state__"], read_array, path)
        if "__layer__" in value:
            return layer_from_config(value["__layer__"])
    except ValueError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise _bad_value(path, value, exc) from None
    except DECODE_ERRORS as exc:
        raise _bad_value(path, value, exc) from None
    raise ValueError(
        f"{path}: corrupt skmnist model file: unknown value {short(value)}"
    )


def _bad_value(path, value, exc):
    return ValueError(
        f"{path}: corrupt skmnist model file: bad value {short(value)} "
        f"({type(exc).__name__}: {exc})"
    )


def _hashable(key):
    if isinstance(key, list | dict | np.ndarray):
        raise TypeError(f"unhashable dict key of type {type(key).__name__}")
    return key


def _decode_scalar(value, read_array, path):
    code = value["__scalar__"]
    if not isinstance(code, str) or len(code) > 16:
        raise TypeError(f"scalar dtype {short(code)} is not a dtype code")
    dtype = np.dtype(code)
    if dtype.hasobject or dtype.kind not in "biufcUS":
        raise ValueError(f"scalar dtype {dtype} is not allowed")
    raw = value["value"]
    if isinstance(raw, dict) and "__complex__" in raw:
        real, imag = (_decode(part, read_array, path) for part in raw["__complex__"])
        return dtype.type(complex(real, imag))
    item = _decode(raw, read_array, path)
    if dtype.kind == "S":
        item = item.encode("latin-1")
    return dtype.type(item)


def _decode_random_state(state, read_array, path):
    rng = np.random.RandomState()
    rng.set_state(
        (
            state["bit_generator"],
            read_array(state["keys"]["__ndarray__"]),
            int(state["pos"]),
            int(state["has_gauss"]),
            float(_decode(state["cached_gaussian"], read_array, path)),
        )
    )
    return rng


def short(value, limit=80, quote=True):
    try:
        text = json.dumps(value) if quote else str(value)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
