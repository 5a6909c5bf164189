"""Turn image files and arrays into MNIST-style 28x28 digits.

MNIST's digits are white (255) on black (0), size-normalised to fit a 20x20
box with their aspect ratio kept, and placed in a 28x28 field so that their
centre of mass is at its centre. :func:`to_mnist` does the same to any
greyscale picture of one digit:

1. **Invert** (``invert="auto"``, the default): a picture whose border is
   mostly bright (median above mid-grey), such as a dark digit scanned or
   photographed on paper, is inverted to light-on-dark; ``"always"`` and
   ``"never"`` force the choice.
2. **Levels**: the background (the 90th percentile of the border pixels) goes
   to 0 and the brightest ink to 255, so grey paper, faint pencil or a
   low-contrast photo look like MNIST's full-contrast strokes.
3. **Crop** to the bounding box of the strokes (pixels above 20% of full
   brightness, so that faint fringes left by smoothing or resampling do not
   count; fainter pixels within a pixel of it are kept) and **resize** it
   (Lanczos, anti-aliased) so that the strokes' longer side is 20 pixels.
4. **Centre** it in 28x28 by its centre of mass, shifted by whole pixels as
   MNIST did (a real MNIST digit comes back unchanged, up to the contrast
   stretch of the few whose brightest pixel is 254).

A blank picture (no ink after step 2) gives an all-black image.

Image files are read with Pillow (``pip install "skmnist[images]"``), which is
imported only when needed: PNG, JPEG and anything else Pillow reads. Colour is
converted to greyscale with ITU-R 601-2 luma (Pillow's ``"L"`` mode), a
transparent background is taken as white paper, and the EXIF orientation of
photos is applied.

``.npy`` files hold images as arrays of pixel intensities in [0, 255] (any
numeric dtype), as :func:`skmnist.load_mnist` returns them. Arrays of 28x28
images, ``(28, 28)``, ``(n, 28, 28)``, ``(784,)`` or ``(n, 784)``, are taken
as MNIST digits already: only inversion applies (in ``"auto"`` mode, when
their border is bright). Images of any other size, ``(h, w)`` or
``(n, h, w)``, are converted like image files.
"""

import io
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["INVERT_MODES", "read_image_bytes", "read_images", "to_mnist"]

INVERT_MODES = ("auto", "always", "never")

SIZE = 28  # the MNIST field
BOX = 20  # the box the digit is scaled to fit
_CENTRE = SIZE / 2  # where MNIST puts the centre of mass, in pixel indices
_PIXEL_MAX = 255
_BACKGROUND_PERCENTILE = 90
_STROKE = 0.2 * _PIXEL_MAX  # pixels brighter than this make the digit's size
_NPY_SUFFIX = ".npy"


def _import_pil():
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise ImportError(
            "reading image files needs Pillow, which is not installed: "
            'pip install "skmnist[images]" (or pip install pillow)'
        ) from exc
    return Image, ImageOps


def read_images(path, *, invert="auto"):
    """Read the digit(s) in an image file or ``.npy`` array as MNIST images.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file of greyscale image(s), or an image file Pillow reads
        (PNG, JPEG...) holding one digit.

    invert : {"auto", "always", "never"}, default="auto"
        Whether to invert dark-on-light pictures to MNIST's white-on-black:
        ``"auto"`` inverts those whose border is mostly bright.

    Returns
    -------
    images : ndarray of shape (n_images, 28, 28), dtype uint8
        One image for a picture file; as many as the array holds for ``.npy``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an image Pillow can read, or not a ``.npy`` array of
        image(s) with values in [0, 255].
    ImportError
        If an image file (or a ``.npy`` image that is not 28x28) needs Pillow
        and it is not installed.
    """
    _check_invert(invert)
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.suffix.lower() == _NPY_SUFFIX:
        return _read_npy(path, invert)
    return to_mnist(_read_picture(path), invert=invert)[np.newaxis]


def read_image_bytes(data, *, invert="auto", max_pixels=None, name="image"):
    """Convert an encoded picture (PNG, JPEG...) of one digit to an MNIST image.

    The bytes of an image file, converted exactly as :func:`read_images`
    converts the file.

    Parameters
    ----------
    data : bytes
        The encoded picture, in any format Pillow reads.

    invert : {"auto", "always", "never"}, default="auto"
        See :func:`read_images`.

    max_pixels : int, default=None
        Refuse pictures of more pixels than this (width times height), read
        from the header before any pixel is decoded; None sets no limit.

    name : str, default="image"
        What error messages call the picture.

    Returns
    -------
    mnist_image : ndarray of shape (28, 28), dtype uint8
        White digit on black, fitted to 20x20 and centred by mass.

    Raises
    ------
    ValueError
        If ``data`` is not a picture Pillow can read, or is larger than
        ``max_pixels``.
    ImportError
        If Pillow is not installed.

    Examples
    --------
    A black bar on white paper, as a PNG: a "1", 20 pixels tall once converted.

    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skmnist.data._images import read_image_bytes
    >>> paper = np.full((100, 60), 255, dtype=np.uint8)
    >>> paper[10:90, 25:35] = 0
    >>> png = io.BytesIO()
    >>> Image.fromarray(paper).save(png, format="PNG")
    >>> image = read_image_bytes(png.getvalue())
    >>> image.shape, image.dtype, int((image > 127).any(axis=1).sum())
    ((28, 28), dtype('uint8'), 20)
    """
    _check_invert(invert)
    picture = _read_picture(io.BytesIO(data), name=name, max_pixels=max_pixels)
    return to_mnist(picture, invert=invert)


def to_mnist(image, *, invert="auto"):
    """Convert one greyscale picture of a digit to a 28x28 MNIST image.

    Parameters
    ----------
    image : array-like of shape (height, width)
        Greyscale pixel intensities in [0, 255], any size.

    invert : {"auto", "always", "never"}, default="auto"
        See :func:`read_images`.

    Returns
    -------
    mnist_image : ndarray of shape (28, 28), dtype uint8
        White digit on black, fitted to 20x20 and centred by mass.
    """
    _check_invert(invert)
    a = np.array(image, dtype=np.float64)  # a copy: changed in place below
    if a.ndim != 2 or min(a.shape) == 0:
        raise ValueError(f"expected a 2-D greyscale image, got shape {a.shape}")
    _check_range(a, "image")

    border = _border(a)
    if _should_invert(border, invert):
        a = _PIXEL_MAX - a
        border = _PIXEL_MAX - border

    background = np.percentile(border, _BACKGROUND_PERCENTILE)
    peak = a.max()
    if peak <= background:
        return np.zeros((SIZE, SIZE), dtype=np.uint8)
    a -= background
    np.clip(a, 0, None, out=a)
    a *= _PIXEL_MAX / (peak - background)

    # The digit's size is that of its strokes (pixels above _STROKE): the
    # faint fringes that smoothing or resampling leave around them, which
    # would shrink the digit, do not count. The crop keeps those fringes,
    # up to a margin, as MNIST's anti-aliased edges.
    top, bottom, left, right = _bounding_box(a > _STROKE)
    scale = BOX / max(bottom - top, right - left)
    margin = math.ceil(1 / scale)  # one pixel of the result
    t, b, le, r = _bounding_box(a > 0)
    top, left = max(t, top - margin), max(le, left - margin)
    bottom, right = min(b, bottom + margin), min(r, right + margin)
    digit = _resize(a[top:bottom, left:right], scale)
    return _centre(digit)


def _check_invert(invert):
    if not isinstance(invert, str) or invert not in INVERT_MODES:
        raise ValueError(f"invert must be one of {INVERT_MODES}, got {invert!r}")


def _check_range(a, what):
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: pixel values must be finite")
    if a.size and (a.min() < 0 or a.max() > _PIXEL_MAX):
        raise ValueError(
            f"{what}: pixel values must lie in [0, {_PIXEL_MAX}], got values from "
            f"{a.min()} to {a.max()}"
        )


def _border(a):
    """The outermost pixels of a 2-D image."""
    if min(a.shape) <= 2:
        return a.ravel()
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _should_invert(border, invert):
    if invert == "auto":
        return bool(np.median(border) > _PIXEL_MAX / 2)
    return invert == "always"


def _bounding_box(mask):
    """``(top, bottom, left, right)`` of the True pixels, ends excluded."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _resize(digit, scale):
    """``digit`` scaled by ``scale`` (anti-aliased), or itself for 1."""
    h, w = digit.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # Pillow: (w, h)
    if size == (w, h):
        return digit
    Image, _ = _import_pil()
    resized = Image.fromarray(digit.astype(np.float32)).resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float64), 0, _PIXEL_MAX)


def _centre(digit):
    """Place ``digit`` in the 28x28 field with its centre of mass at the centre."""
    h, w = digit.shape
    mass = digit.sum()
    cy = (digit.sum(axis=1) @ np.arange(h)) / mass
    cx = (digit.sum(axis=0) @ np.arange(w)) / mass
    # Whole-pixel shifts, as MNIST's; half-way rounds up. What falls outside
    # the field (faint fringes of a digit cropped with a margin) is dropped.
    top = math.floor(_CENTRE - cy + 0.5)
    left = math.floor(_CENTRE - cx + 0.5)
    field = np.zeros((SIZE, SIZE), dtype=np.float64)
    field[max(top, 0) : top + h, max(left, 0) : left + w] = digit[
        max(-top, 0) : SIZE - top, max(-left, 0) : SIZE - left
    ]
    return np.rint(field).astype(np.uint8)


class _TooLarge(ValueError):
    """A picture of more pixels than the caller's limit."""


def _read_picture(path, *, name=None, max_pixels=None):
    """An image file (a path or a file object) as a 2-D float array of
    greyscale intensities."""
    Image, ImageOps = _import_pil()
    is_path = name is None
    name = path if is_path else name
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise _TooLarge(
                    f"{name}: {width}x{height} pixels, more than the limit of "
                    f"{max_pixels}"
                )
            image.seek(0)  # the first frame of a GIF or TIFF
            image = ImageOps.exif_transpose(image)
            return _greyscale(image, Image)
    except _TooLarge:
        raise
    except (Image.UnidentifiedImageError, Image.DecompressionBombError) as exc:
        # Pillow's message names a file object by its repr: keep it for paths.
        detail = f" ({exc})" if is_path else ""
        raise ValueError(f"{name}: not an image file Pillow can read{detail}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Truncated or corrupt data surfaces when the pixels are decoded.
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise ValueError(
            f"{name}: cannot read the image ({type(exc).__name__}: {exc})"
        ) from None


def _greyscale(image, Image):
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        # 16- and 32-bit greyscale: Pillow's "L" conversion would clip them.
        a = np.asarray(image, dtype=np.float64)
        if mode.startswith("I") and a.max(initial=0) > _PIXEL_MAX:
            a *= _PIXEL_MAX / 65535
        return np.clip(a, 0, _PIXEL_MAX)
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if has_alpha:
        # A transparent background is taken as white paper.
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64)


def _read_npy(path, invert):
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive named .npy
        array.close()
        raise ValueError(f"{path}: an .npz archive, not a .npy array")
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{path}: pixel values must be numbers, got dtype {array.dtype}"
        )
    if array.ndim == 1 and array.shape[0] == SIZE * SIZE:
        array = array.reshape(1, SIZE, SIZE)
    elif array.ndim == 2 and array.shape[1] == SIZE * SIZE:
        array = array.reshape(-1, SIZE, SIZE)
    elif array.ndim == 2:
        array = array[np.newaxis]
    elif array.ndim != 3:
        raise ValueError(
            f"{path}: expected image(s) of shape (h, w), (n, h, w), (784,) or "
            f"(n, 784), got shape {array.shape}"
        )
    if array.shape[0] == 0 or min(array.shape[1:]) == 0:
        raise ValueError(f"{path}: no image in an array of shape {array.shape}")
    a = array.astype(np.float64)
    _check_range(a, str(path))
    if array.shape[1:] != (SIZE, SIZE):
        return np.stack([to_mnist(image, invert=invert) for image in a])
    for image in a:
        if _should_invert(_border(image), invert):
            np.subtract(_PIXEL_MAX, image, out=image)
    return np.rint(a).astype(np.uint8)
