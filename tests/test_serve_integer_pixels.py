"""The reader of ``{"pixels": [[...]]}`` bodies of integers without ``json``:
it takes exactly what ``json.loads`` reads as one image in range, and gives
the same array."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skmnist.apps.serve._integer_pixels import read_integer_image
from skmnist.apps.serve._native import images_from_json

_ROWS = [[(7 * row + 13 * column) % 256 for column in range(28)] for row in range(28)]

# How JSON writers space an image: JSON.stringify and orjson as compact,
# Python's json.dumps by default, and spaced out by hand.
WRITERS = {
    "compact": {"separators": (",", ":")},
    "json.dumps": {},
    "spaced": {"separators": (" , ", " : ")},
    "one per line": {"indent": 0},
}


def _as_json(body):
    """What the general path reads: the image, or None if it is not one
    image of integers in [0, 255]."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if type(document) is not dict or list(document) != ["pixels"]:
        return None
    rows = document["pixels"]
    if not (
        type(rows) is list
        and len(rows) == 28
        and all(type(row) is list and len(row) == 28 for row in rows)
        and all(type(v) is int and 0 <= v <= 255 for row in rows for v in row)
    ):
        return None
    return np.array([rows], dtype=np.float64)


@pytest.mark.parametrize("writer", WRITERS)
def test_the_bodies_json_writers_write_are_read_as_json_reads_them(writer):
    body = json.dumps({"pixels": _ROWS}, **WRITERS[writer]).encode()
    image = read_integer_image(body)
    assert image is not None, "the short path must take this body"
    assert image.dtype == np.float64
    np.testing.assert_array_equal(image, _as_json(body))


def test_an_indented_body_is_left_to_json_and_still_served():
    """A decision: past six bytes a pixel the body is indented, and json reads
    it faster than the byte checks would; the server's answer is the same."""
    body = json.dumps({"pixels": _ROWS}, indent=2).encode()
    assert len(body) > 6 * 784
    assert read_integer_image(body) is None
    images, batch = images_from_json(body)
    np.testing.assert_array_equal(images, _as_json(body))
    assert batch is False


def _replace(body, old, new):
    assert old in body
    return body.replace(old, new, 1)


_BODY = json.dumps({"pixels": _ROWS}).encode()


def _body_of(rows):
    return json.dumps({"pixels": rows}).encode()


NOT_READ = {
    "a space inside the key": _replace(_BODY, b'"pixels"', b'"pix els"'),
    "a digit inside the key": _replace(_BODY, b'"pixels"', b'"pix1els"'),
    "another key": _replace(_BODY, b'"pixels"', b'"pixel"'),
    "something before the key": _replace(_BODY, b'{"pixels"', b'{1"pixels"'),
    "something after the object": _BODY + b"[]",
    "a number split by a space": _replace(_BODY, b", 13,", b", 1 3,"),
    "a number split by a newline": _replace(_BODY, b", 13,", b", 1\n3,"),
    "a leading zero": _replace(_BODY, b", 13,", b", 013,"),
    "zero written twice": _replace(_BODY, b"[0,", b"[00,"),
    "a negative zero": _replace(_BODY, b"[0,", b"[-0,"),
    "256": _replace(_BODY, b", 13,", b", 256,"),
    "an integer of 40 digits": _replace(_BODY, b", 13,", b", " + b"9" * 40 + b","),
    "a float": _replace(_BODY, b", 13,", b", 13.0,"),
    "an exponent": _replace(_BODY, b", 13,", b", 1e1,"),
    "an empty number": _replace(_BODY, b", 13,", b", ,"),
    "a trailing comma": _replace(_BODY, b"]]", b",]]"),
    "a row too short": _body_of([_ROWS[0][:27], *_ROWS[1:]]),
    "a row too long": _body_of([[*_ROWS[0], 0], *_ROWS[1:]]),
    "rows of 27 and 29": _body_of([_ROWS[0][:27], [*_ROWS[1], 0], *_ROWS[2:]]),
    "27 rows": _body_of(_ROWS[:27]),
    "29 rows": _body_of([*_ROWS, _ROWS[0]]),
    "a nested row": _replace(_BODY, b", 13,", b", [13],"),
    "a batch of one image": _replace(_replace(_BODY, b"[[", b"[[["), b"]]", b"]]]"),
    "a byte-order mark": b"\xef\xbb\xbf" + _BODY,
    "true": _replace(_BODY, b", 13,", b", true,"),
}


@pytest.mark.parametrize("case", NOT_READ)
def test_bodies_that_are_not_one_image_of_integers_are_left_to_json(case):
    body = NOT_READ[case]
    assert read_integer_image(body) is None
    # The general path then answers as it always did.
    try:
        images, _ = images_from_json(body)
    except Exception as exc:  # the refusal (ApiError, 4xx)
        assert getattr(exc, "status", None) in {400, 422}
    else:
        assert images.shape[1:] == (28, 28)


_ALPHABET = b'0123456789,[] \t\n\r-.eE+"{}:pxtrue\x00\\'


@settings(max_examples=400, deadline=None)
@given(
    pixels=st.lists(st.integers(0, 255), min_size=784, max_size=784),
    writer=st.sampled_from(sorted(WRITERS)),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace"]),
            st.integers(0, 10_000),
            st.sampled_from(list(_ALPHABET)),
        ),
        max_size=3,
    ),
)
def test_whatever_the_reader_takes_json_reads_as_the_same_image(pixels, writer, edits):
    rows = [pixels[i : i + 28] for i in range(0, 784, 28)]
    body = bytearray(json.dumps({"pixels": rows}, **WRITERS[writer]).encode())
    for what, where, byte in edits:
        where %= len(body) + (what == "insert")
        if what == "insert":
            body[where:where] = bytes([byte])
        elif what == "delete":
            del body[where]
        else:
            body[where] = byte
    body = bytes(body)
    image = read_integer_image(body)
    expected = _as_json(body)
    if image is None:
        # Left to json: every unedited body of the common writers is read,
        # unless it is longer than six bytes a pixel.
        assert edits or expected is None or len(body) > 6 * 784
    else:
        assert expected is not None, f"json does not read {body!r} as an image"
        np.testing.assert_array_equal(image, expected)
