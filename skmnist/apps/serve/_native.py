"""skmnist's own API: ``POST /predict`` with JSON pixels or a PNG/JPEG picture.

Decoding refuses every malformed body with a 4xx :class:`ApiError` naming
the problem, numbers out of range however they are written (``256``,
``1e999``, an integer of 5,000 digits). Pictures are decoded only when their
first bytes are PNG's or JPEG's signature, whatever the Content-Type says,
and only by Pillow's PNG or JPEG decoder.
"""

import io
import itertools
import json
import warnings

import numpy as np

from ...data._images import SIZE, _import_pil, _TooLarge, read_image_bytes
from ._model import PIXEL_MAX
from ._requests import ApiError

__all__ = ["AnswerEncoder", "images_from_json", "picture_format", "read_picture"]

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
# Other formats Pillow reads, named in the refusal.
_OTHER_FORMATS = (
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"RIFF", "RIFF (WebP)"),
    (b"\x00\x00\x00\x0cjP", "JPEG 2000"),
    (b"8BPS", "PSD"),
    (b"P1", "PBM"),
    (b"P4", "PBM"),
    (b"P2", "PGM"),
    (b"P5", "PGM"),
    (b"P3", "PPM"),
    (b"P6", "PPM"),
)


def _json_kind(value):
    return {list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _number(x):
    x = float(x)
    return int(x) if x.is_integer() else x


def parse_json(body):
    """The JSON document of ``body``, or a 4xx :class:`ApiError`."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not valid JSON: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ApiError(
            422, f"the body holds a number out of any range: {_first_line(exc)}"
        ) from None


def _first_line(exc):
    return str(exc).split(";")[0]


# What is left of a body of integers and lists under "pixels" once its digits,
# signs, commas, brackets and whitespace are deleted: no other string, no
# float, no true/false/null, no other object.
_INTEGER_PIXELS_RESIDUE = b'{"pixels":}'
_INTEGER_PIXELS_CHARACTERS = b"0123456789-,[] \t\n\r"
_ROW_LENGTHS = [SIZE] * SIZE


def _integer_image(document, body):
    """The (1, 28, 28) float64 image of ``{"pixels": [[...]]}``, one image of
    integers in [0, 255] (the drawing pad's body, and most clients'); None
    for any other document, which the general path then reads.

    The array the general path makes, without making an array of the nested
    lists first: ``bytes`` converts the integers, checking their range.
    """
    # The residue alone would also pass {"pix els": ...}: the key is checked.
    if (
        type(document) is not dict
        or document.keys() != {"pixels"}
        or body.translate(None, _INTEGER_PIXELS_CHARACTERS) != _INTEGER_PIXELS_RESIDUE
    ):
        return None
    rows = document["pixels"]
    try:
        # Only integers and lists are left (the residue): len() of an
        # integer, an integer where a row is or a list inside a row raise
        # TypeError; an integer outside a byte's [0, 255] (PIXEL_MAX)
        # raises ValueError.
        if type(rows) is not list or list(map(len, rows)) != _ROW_LENGTHS:
            return None
        pixels = bytes(itertools.chain.from_iterable(rows))
    except (TypeError, ValueError):
        return None
    return np.frombuffer(pixels, np.uint8).reshape(1, SIZE, SIZE).astype(np.float64)


def images_from_json(body):
    """``(images, batch)``: float64 (n, 28, 28) pixels from a JSON body.

    Examples
    --------
    >>> from skmnist.apps.serve._native import images_from_json
    >>> body = b'{"pixels": ' + str([[0] * 28] * 28).encode() + b"}"
    >>> images, batch = images_from_json(body)
    >>> images.shape, images.dtype, batch
    ((1, 28, 28), dtype('float64'), False)
    >>> images_from_json(body.replace(b"[0, 0", b"[1e999, 0", 1))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    skmnist.apps.serve._requests.ApiError: "pixels" values must lie in [0, 255]; ...
    """
    document = parse_json(body)
    image = _integer_image(document, body)
    if image is not None:
        return image, False
    if not isinstance(document, dict):
        raise ApiError(
            422,
            'the JSON body must be an object {"pixels": [...]}, not '
            f"{_json_kind(document)}",
        )
    if "pixels" not in document:
        raise ApiError(
            422,
            'the JSON object has no "pixels": send {"pixels": [[...28 rows of 28 '
            "values in 0..255...]]}",
        )
    pixels = document["pixels"]
    suspicious = b"true" in body or b"false" in body
    array = pixel_array(pixels, '"pixels"', suspicious=suspicious)
    if array.ndim == 2:
        array, batch = array[np.newaxis], False
    elif array.ndim == 3 and len(array):
        batch = True
    else:
        raise ApiError(
            422,
            f'"pixels" must be 28 rows of 28 values, shape (28, 28), or a list of '
            f"such images, shape (n, 28, 28); got shape {array.shape}",
        )
    if array.shape[1:] != (SIZE, SIZE):
        raise ApiError(
            422,
            f'"pixels" must be 28x28 images (28 rows of 28 values); got images of '
            f"shape {array.shape[1:]}",
        )
    check_range(array, '"pixels"', 0, PIXEL_MAX)
    return array, batch


def pixel_array(data, what, *, suspicious=True):
    """``data`` (nested JSON lists of numbers) as a float64 array, or a 422.

    ``suspicious``: whether booleans may hide among the numbers (NumPy takes
    ``true`` for 1); when False, the body holds no ``true``/``false`` at all.
    """
    try:
        array = np.array(data)
    except (ValueError, TypeError, RecursionError, OverflowError):
        # Ragged rows (or numbers mixed with arrays): numpy refuses them.
        raise ApiError(
            422, f"{what} must be rows of equal length: got rows of different lengths"
        ) from None
    kind = array.dtype.kind
    numbers_only = (
        f"{what} must hold numbers only (no strings, booleans, null, objects)"
    )
    if kind == "O":
        # Integers beyond 64 bits, or numbers mixed with other values.
        items = array.ravel().tolist()
        if not all(type(v) in (int, float) for v in items):
            raise ApiError(422, numbers_only)
        try:
            array = np.array(items, dtype=np.float64).reshape(array.shape)
        except OverflowError:
            raise ApiError(
                422,
                f"{what} values must lie in [0, {PIXEL_MAX}]; got an integer "
                "too large for a float",
            ) from None
    elif kind not in "iuf":
        raise ApiError(422, numbers_only)
    elif suspicious and array.size:
        if any(type(v) is bool for v in np.array(data, dtype=object).ravel().tolist()):
            raise ApiError(422, numbers_only)
    return array.astype(np.float64, copy=False)


def check_range(array, what, low, high):
    """A 422 unless every value of ``array`` lies in [low, high] (NaN does not)."""
    if not array.size:
        return
    lowest, highest = array.min(), array.max()
    if np.isnan(lowest) or np.isnan(highest):
        raise ApiError(
            422, f"{what} values must be numbers in [{low}, {high}]: found NaN"
        )
    if lowest < low or highest > high:
        raise ApiError(
            422,
            f"{what} values must lie in [{low}, {high}]; got values from "
            f"{_number(lowest)} to {_number(highest)}",
        )


class AnswerEncoder:
    """Writes the JSON answers of ``POST /predict`` for one model's labels.

    The same text as ``json.dumps`` of ``{"label": ..., "probabilities":
    {name: p, ...}}`` (floats as ``repr`` writes them, as ``json`` does),
    from parts made once: for single images it is most of an answer's cost.

    Examples
    --------
    >>> import numpy as np
    >>> from skmnist.apps.serve._labels import Labels
    >>> from skmnist.apps.serve._native import AnswerEncoder
    >>> encode = AnswerEncoder(Labels(np.array([0.0, 7.0])))
    >>> encode(np.array([[0.25, 0.75]], dtype=np.float32), np.array([1]), batch=False)
    b'{"label":7.0,"probabilities":{"0.0":0.25,"7.0":0.75}}'
    """

    def __init__(self, labels):
        self._labels = [json.dumps(value) for value in labels.values]
        # The answer less its label and the image, as a %-format: one
        # formatting of all its numbers (%r is repr, as json writes floats).
        self._n_classes = len(labels.names)
        self._format = (
            '{"label":%s,"probabilities":{'
            + ",".join(
                json.dumps(name).replace("%", "%%") + ":%r" for name in labels.names
            )
            + "}%s}"
        )

    def __call__(self, proba, best, *, batch, image=None):
        if not np.isfinite(proba).all():
            raise ValueError("the model gave probabilities that are not finite")
        if proba.shape[1:] != (self._n_classes,):
            raise ValueError(
                f"the model gave {proba.shape[1:]} probabilities an image, for "
                f"{self._n_classes} classes"
            )
        image = (
            ',"image":' + json.dumps(image.tolist(), separators=(",", ":"))
            if image is not None
            else ""
        )
        answers = [
            self._format % (self._labels[i], *row, image)
            for i, row in zip(best.tolist(), proba.tolist(), strict=True)
        ]
        text = '{"predictions":[' + ",".join(answers) + "]}" if batch else answers[0]
        return text.encode()


# -- pictures -----------------------------------------------------------------


def picture_format(body):
    """``"PNG"`` or ``"JPEG"``, from the body's first bytes; else a 415."""
    if body.startswith(_PNG):
        return "PNG"
    if body.startswith(_JPEG):
        return "JPEG"
    for signature, name in _OTHER_FORMATS:
        if body.startswith(signature):
            raise ApiError(
                415, f"the body is a {name} picture: only PNG and JPEG are read"
            )
    raise ApiError(
        415,
        "the body is not an image this server reads: a PNG or a JPEG picture "
        "starts with its format's signature, and this one starts with neither",
    )


def picture_pixels(body, format_, max_pixels):
    """The pixel count of the picture's header (nothing else is decoded)."""
    try:
        Image, _ = _import_pil()
    except ImportError as exc:
        raise ApiError(415, f"this server cannot read pictures: {exc}") from None
    try:
        with warnings.catch_warnings():
            # Pillow warns of huge pictures: the limit below refuses them.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body), formats=[format_]) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the image: {exc}") from None
    except Exception as exc:  # whatever a corrupt header raises
        raise ApiError(
            400, f"the image: cannot read the {format_} header ({type(exc).__name__})"
        ) from None
    if width * height > max_pixels:
        raise ApiError(
            413,
            f"the image: {width}x{height} pixels, more than the limit of {max_pixels}",
        )
    return width * height


def read_picture(body, invert, max_pixels):
    """The picture converted the MNIST way (as ``skmnist predict`` converts files)."""
    try:
        return read_image_bytes(
            body, invert=invert, max_pixels=max_pixels, name="the image"
        )
    except ImportError as exc:
        raise ApiError(415, f"this server cannot read pictures: {exc}") from None
    except _TooLarge as exc:
        raise ApiError(413, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
