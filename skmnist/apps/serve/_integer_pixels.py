"""The commonest JSON body, one image of integers, read without ``json``.

``{"pixels": [[28 integers], ... 28 rows]}``, integers in [0, 255], is what
the drawing pad and most clients send to ``POST /predict``. Python's ``json``
makes 813 Python objects of it (29 lists, 784 integers), thrown away once
the image is an array, and for single-image requests reading the body was
the largest part of an answer's cost. Here the body's shape is checked with
``bytes`` methods and each number's text is looked up in a table of the 256
spellings of 0 to 255 (in the time of ``json.loads`` alone, a sixth less than
``json.loads`` and the array together: docs/serving.md).

:func:`read_integer_image` takes only bodies that ``json.loads`` reads as
such an image, and gives the same array; for any other body, including every
malformed one, it returns None and the server reads the body with ``json``,
whose answers (the array, or the refusal and its message) are unchanged.
"""

import itertools
import operator

import numpy as np

from ...data._images import SIZE
from ._model import PIXEL_MAX

__all__ = ["read_integer_image"]

# Past six bytes a pixel ("255, " and brackets), a body is indented: json
# reads such a body faster than the checks below can rule on its spaces.
_MAX_BYTES = 6 * SIZE * SIZE
_WHITESPACE = b" \t\n\r"  # JSON's whitespace: these four, no other
_KEY = b'"pixels"'
# What is left of such a body once its digits, commas, brackets and
# whitespace are deleted: no other string, no sign, no fraction or exponent,
# no true/false/null, no escape, no other object.
_RESIDUE = b'{"pixels":}'
_DIGITS_AND_PUNCTUATION = b"0123456789,[]" + _WHITESPACE
# Every digit to "0" and every whitespace to " ": a search then finds a
# digit followed by whitespace.
_DIGIT_THEN_SPACE = b"0 "
_SHAPES = bytes.maketrans(b"0123456789\t\n\r", b"0000000000   ")
_ZERO, _LAST_SPACE = ord("0"), ord(" ")  # JSON's whitespace is at most " "
_ROW_SEPARATOR = b"],["
_ROW_COMMAS = [SIZE - 1] * SIZE
_PIXEL_OF_TEXT = {str(value).encode(): value for value in range(PIXEL_MAX + 1)}


def read_integer_image(body):
    """The (1, 28, 28) float64 image of a ``{"pixels": [[...]]}`` body of
    integers in [0, 255], or None for any other body.

    Parameters
    ----------
    body : bytes
        A request's body.

    Returns
    -------
    image : ndarray of shape (1, 28, 28) or None
        What ``np.array([json.loads(body)["pixels"]], dtype=np.float64)``
        gives, when the body is one image of integers in range.

    Examples
    --------
    >>> import json
    >>> from skmnist.apps.serve._integer_pixels import read_integer_image
    >>> rows = [[0] * 28 for _ in range(28)]
    >>> rows[3][4] = 255
    >>> image = read_integer_image(json.dumps({"pixels": rows}).encode())
    >>> image.shape, image.dtype, image[0, 3, 4]
    ((1, 28, 28), dtype('float64'), np.float64(255.0))
    >>> rows[3][4] = 256  # out of range: json reads it, and refuses it
    >>> print(read_integer_image(json.dumps({"pixels": rows}).encode()))
    None
    """
    if len(body) > _MAX_BYTES:
        return None
    value = _pixels_value(body)
    if value is None:
        return None
    pixels = _pixels(value.translate(None, _WHITESPACE))
    if pixels is None or _splits_a_number(value):
        return None
    return np.frombuffer(pixels, np.uint8).reshape(1, SIZE, SIZE).astype(np.float64)


def _pixels_value(body):
    """The text of ``"pixels"``'s value, if the body is ``{"pixels": ...}``
    with only digits, commas, brackets and whitespace in that value."""
    if body.translate(None, _DIGITS_AND_PUNCTUATION) != _RESIDUE:
        return None
    # The residue holds each of {"pixels":} once and in this order: the key
    # must still be whole (no digit or space inside it), and only whitespace
    # may stand between "{", the key and ":", and after "}".
    key = body.find(_KEY)
    if key < 0 or body[:key].strip(_WHITESPACE) != b"{":
        return None
    colon = body.find(b":", key)
    close = body.rfind(b"}")
    if body[key + len(_KEY) : colon].strip(_WHITESPACE) or body[close + 1 :].strip(
        _WHITESPACE
    ):
        return None
    return body[colon + 1 : close]


def _splits_a_number(value):
    """Whether whitespace stands between two digits (``[1 2]`` is not JSON,
    and would read as 12 once the whitespace is deleted)."""
    if _DIGIT_THEN_SPACE not in value.translate(_SHAPES):
        return False  # no digit before whitespace: JSON.stringify's bodies...
    codes = np.frombuffer(value, np.uint8)
    digit = (codes - np.uint8(_ZERO)) < 10
    kept = np.flatnonzero(codes > _LAST_SPACE)  # the characters but whitespace
    together = digit[kept[1:]] & digit[kept[:-1]]
    return bool((together & (np.diff(kept) > 1)).any())


def _pixels(compact):
    """The 784 pixels of ``[[28 integers],...28 rows]`` (no whitespace left)
    as bytes, or None for any other shape, nesting or number."""
    if not (compact.startswith(b"[[") and compact.endswith(b"]]")):
        return None
    inner = compact[2:-2]
    rows = inner.split(_ROW_SEPARATOR)
    # Every bracket inside is one of the 27 "],[" between rows: no deeper
    # nesting, no empty or misplaced row.
    if not (
        len(rows) == SIZE
        and inner.count(b"[") == SIZE - 1
        and inner.count(b"]") == SIZE - 1
        and list(map(bytes.count, rows, itertools.repeat(b","))) == _ROW_COMMAS
    ):
        return None
    numbers = b",".join(rows).split(b",")
    try:
        # Only JSON's own spelling of 0 to 255 is a key: an empty number, a
        # leading zero ("007"), a number out of range raise KeyError.
        return bytes(operator.itemgetter(*numbers)(_PIXEL_OF_TEXT))
    except KeyError:
        return None
