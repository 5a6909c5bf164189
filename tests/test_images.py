"""Reading image files and .npy arrays as MNIST digits (skmnist.data._images)."""

import sys

import numpy as np
import pytest
from PIL import Image

from skmnist.data._images import read_images, to_mnist


@pytest.fixture(scope="module")
def digits(mnist):
    """200 real MNIST test digits, (200, 28, 28) uint8."""
    _, (X_test, _) = mnist
    return X_test[:200]


def _centre_of_mass(image):
    image = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    mass = image.sum()
    return (rows * image).sum() / mass, (cols * image).sum() / mass


def _bounding_box(image, threshold=0):
    """Height and width of the pixels above ``threshold``."""
    rows = np.flatnonzero((image > threshold).any(axis=1))
    cols = np.flatnonzero((image > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _correlation(a, b):
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def _similarity(a, b):
    """Correlation up to a one-pixel shift.

    MNIST centres digits by whole pixels, so a centre of mass anywhere in
    [13.5, 14.5] is right: a resampled digit may land one pixel off the
    original, which for thin strokes alone drops the plain correlation a lot.
    """
    return max(
        _correlation(np.roll(a, (dy, dx), axis=(0, 1)), b)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def test_mnist_digits_come_back_unchanged(digits):
    """MNIST's own normalisation is a fixed point, up to the contrast stretch."""
    for image in digits:
        out = to_mnist(image)
        assert out.dtype == np.uint8 and out.shape == (28, 28)
        assert np.abs(out.astype(int) - image).max() <= 1
        if image.max() == 255:
            np.testing.assert_array_equal(out, image)


def test_png_of_an_mnist_digit_reads_back_as_the_digit(digits, tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(digits[0]).save(path)
    images = read_images(path)
    assert images.shape == (1, 28, 28) and images.dtype == np.uint8
    assert np.abs(images[0].astype(int) - digits[0]).max() <= 1


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_dark_on_light_colour_photo_of_any_size(digits, tmp_path, suffix):
    """A black-on-white RGB picture, 10x larger, on grey paper."""
    path = tmp_path / f"scan{suffix}"
    big = Image.fromarray(digits[0]).resize((280, 300), Image.Resampling.BICUBIC)
    paper = 230 - np.asarray(big, dtype=np.float64) * (200 / 255)  # ink at 30
    rgb = np.stack([paper, paper * 0.95, paper * 0.9], axis=-1)
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(path, quality=95)

    out = read_images(path)[0]
    assert _similarity(out, digits[0]) > 0.9
    assert out.max() == 255 and out[0].max() == 0  # full contrast, black border
    assert max(_bounding_box(out, threshold=51)) in (20, 21)  # resampling blurs
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5

    # Without inversion only the paper is bright: a blank (or, with JPEG
    # noise, speckled) image, nothing like the digit.
    never = read_images(path, invert="never")[0]
    assert not never.any() or _similarity(never, digits[0]) < 0.5


def test_invert_modes(digits, tmp_path):
    path = tmp_path / "white_on_black.png"
    Image.fromarray(digits[1]).save(path)
    assert (
        np.abs(read_images(path, invert="never")[0] - digits[1].astype(int)).max() <= 1
    )
    assert (
        np.abs(read_images(path, invert="auto")[0] - digits[1].astype(int)).max() <= 1
    )
    # Inverted, the black background becomes the "paper": nothing is left.
    np.testing.assert_array_equal(read_images(path, invert="always"), 0)

    light = tmp_path / "black_on_white.png"
    Image.fromarray(255 - digits[1]).save(light)
    for invert in ("auto", "always"):
        out = read_images(light, invert=invert)[0]
        assert np.abs(out.astype(int) - digits[1]).max() <= 1

    with pytest.raises(ValueError, match="invert must be one of"):
        read_images(path, invert="yes")
    with pytest.raises(ValueError, match="invert must be one of"):
        to_mnist(digits[1], invert=True)


def test_aspect_ratio_is_kept_and_small_images_are_enlarged():
    tall = np.zeros((100, 30))
    tall[10:90, 12:18] = 255  # an 80x6 bar: a "1"
    out = to_mnist(tall)
    height, width = _bounding_box(out)
    assert height == 20 and width in (1, 2, 3)
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5

    tiny = np.zeros((6, 6))
    tiny[1:5, 2:4] = 200
    out = to_mnist(tiny)
    assert _bounding_box(out)[0] == 20 and out.max() == 255


def test_off_centre_digit_is_recentred(digits):
    canvas = np.zeros((90, 120), dtype=np.uint8)
    canvas[0:28, 92:120] = digits[2]  # the top-right corner
    out = to_mnist(canvas)
    # Its strokes are 20 pixels long already: the same digit, moved.
    assert _similarity(out, digits[2]) > 0.99


def test_blank_images_give_black(tmp_path):
    np.testing.assert_array_equal(to_mnist(np.full((40, 40), 255)), 0)
    np.testing.assert_array_equal(to_mnist(np.zeros((40, 40))), 0)
    path = tmp_path / "white.png"
    Image.new("L", (50, 50), 255).save(path)
    np.testing.assert_array_equal(read_images(path), np.zeros((1, 28, 28)))


def test_transparent_background_is_white_paper(digits, tmp_path):
    ink = digits[3]
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)  # black, transparent...
    rgba[..., 3] = ink  # ...with black strokes as opaque as MNIST's ink
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(path)
    out = read_images(path)[0]
    assert np.abs(out.astype(int) - ink).max() <= 1


def test_sixteen_bit_greyscale(digits, tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(digits[4].astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    out = read_images(path)[0]
    assert np.abs(out.astype(int) - digits[4]).max() <= 1


def test_palette_and_bilevel_images(digits, tmp_path):
    for mode in ("P", "1"):
        path = tmp_path / f"{mode}.png"
        Image.fromarray(digits[5]).convert(mode).save(path)
        out = read_images(path)[0]
        assert _similarity(out, digits[5]) > 0.8


# -- .npy arrays --------------------------------------------------------------


@pytest.mark.parametrize("shape", [(28, 28), (784,), (5, 28, 28), (5, 784)], ids=str)
def test_npy_of_mnist_shapes_is_taken_as_is(digits, tmp_path, shape):
    n = shape[0] if len(shape) == 3 or shape == (5, 784) else 1
    path = tmp_path / "x.npy"
    np.save(path, digits[:n].reshape(shape))
    out = read_images(path)
    assert out.shape == (n, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, digits[:n])


def test_npy_float_values_and_inversion(digits, tmp_path):
    path = tmp_path / "float.npy"
    np.save(path, 255.0 - digits[:3].astype(np.float32))
    np.testing.assert_array_equal(read_images(path), digits[:3])
    np.testing.assert_array_equal(read_images(path, invert="never"), 255 - digits[:3])


def test_npy_of_other_sizes_is_converted_like_pictures(digits, tmp_path):
    big = np.stack(
        [
            np.asarray(Image.fromarray(d).resize((56, 56), Image.Resampling.BICUBIC))
            for d in digits[:4]
        ]
    )
    path = tmp_path / "big.npy"
    np.save(path, big)
    out = read_images(path)
    assert out.shape == (4, 28, 28)
    for converted, original in zip(out, digits[:4], strict=True):
        assert _similarity(converted, original) > 0.9


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((28, 28), 300), r"\[0, 255\]"),
        (np.full((28, 28), -1.0), r"\[0, 255\]"),
        (np.full((28, 28), np.nan), "finite"),
        (np.zeros((2, 3, 28, 28)), "shape"),
        (np.zeros((0, 28, 28)), "no image"),
        (np.array(["a", "b"]), "numbers"),
    ],
    ids=["too-bright", "negative", "nan", "4-d", "empty", "strings"],
)
def test_npy_errors(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=message):
        read_images(path)


def test_npy_object_arrays_are_not_unpickled(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"not a readable \.npy array"):
        read_images(path)


def test_files_that_are_not_images(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_images(tmp_path / "missing.png")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not an image file"):
        read_images(text)
    truncated = tmp_path / "truncated.png"
    Image.new("L", (64, 64), 128).save(tmp_path / "full.png")
    truncated.write_bytes((tmp_path / "full.png").read_bytes()[:60])
    with pytest.raises(ValueError, match=r"truncated\.png"):
        read_images(truncated)


def test_missing_pillow_says_how_to_install_it(tmp_path, monkeypatch):
    path = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "skmnist\[images\]"'):
        read_images(path)
    # 28x28 arrays need no Pillow.
    np.save(tmp_path / "x.npy", np.zeros((28, 28), dtype=np.uint8))
    assert read_images(tmp_path / "x.npy").shape == (1, 28, 28)
