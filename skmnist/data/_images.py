"""Turn pictures of digits (files, arrays) into MNIST-style 28x28 digits.

MNIST's digits are white (255) on black (0), size-normalised to fit a 20x20
box with their aspect ratio kept, and placed in a 28x28 field so that their
centre of mass is at its centre. :func:`to_mnist` does the same to any
greyscale picture of one digit:

1. **Invert** (``invert="auto"``, the default): a picture whose border (the
   median of its outermost pixels) is nearer its brightest than its darkest
   pixels, such as a dark digit written on paper, is inverted to
   light-on-dark; ``"always"`` and ``"never"`` force the choice.
2. **Even out the background**: a smooth estimate of the background (the
   picture with its strokes removed: a grey-level opening over a quarter of
   the shorter side, smoothed) is subtracted, so that a lighting gradient, a
   shadow or a vignette leaves a flat black background. On paper (inverted
   pictures) the difference is also divided by the paper's brightness, so
   that ink in a shadow is as dark as ink in full light.
3. **Levels**: the background (the 90th percentile of the border pixels) goes
   to 0 and the brightest ink to 255, so grey paper, faint pencil or a
   low-contrast photo look like MNIST's full-contrast strokes.
4. **Crop** to the bounding box of the strokes (pixels above 20% of full
   brightness, less specks of noise far smaller than a stroke, so that faint
   fringes left by smoothing or resampling do not count; fainter pixels
   within a pixel of it are kept) and **resize** it (Lanczos, anti-aliased)
   so that the strokes' longer side is 20 pixels.
5. **Centre** it in 28x28 by its centre of mass, shifted by whole pixels as
   MNIST did (a real MNIST digit comes back unchanged, up to the contrast
   stretch of the few whose brightest pixel is 254).

A blank picture (no ink after step 3) gives an all-black image.

Image files are read with Pillow (``pip install "skmnist[images]"``), which is
imported only when needed: PNG, JPEG and anything else Pillow reads. Colour is
converted to greyscale with ITU-R 601-2 luma (Pillow's ``"L"`` mode), a
transparent background is taken as white paper, and the EXIF orientation of
photos is applied. A picture of more than ``MAX_PIXELS`` pixels is refused
from its header, before it is decoded; a larger one than 1024 pixels a side
is reduced to that (the digit ends up 20 pixels tall anyway), so converting a
photo costs a bounded amount of memory.

``.npy`` files hold images as arrays of pixel intensities in [0, 255] (any
numeric dtype), as :func:`skmnist.load_mnist` returns them. Arrays of 28x28
images, ``(28, 28)``, ``(n, 28, 28)``, ``(784,)`` or ``(n, 784)``, are taken
as MNIST digits already: only inversion applies (in ``"auto"`` mode, by the
rule of step 1). Images of any other size, ``(h, w)`` or ``(n, h, w)``, are
converted like image files.

Every file is opened with :func:`skmnist._utils.files.open_regular`: a
regular file of bounded size, never a FIFO or a device.
"""

import io
import math
import os
from pathlib import Path

import numpy as np

from .._utils.files import open_regular

__all__ = [
    "INVERT_MODES",
    "MAX_PIXELS",
    "image_to_mnist",
    "read_image_bytes",
    "read_images",
    "to_mnist",
]

INVERT_MODES = ("auto", "always", "never")

# The largest picture converted: 50 megapixels, more than phone and most
# camera sensors give, refused from the header before any pixel is decoded.
MAX_PIXELS = 50_000_000
# A picture file or a .npy array file larger than these is refused unread.
MAX_PICTURE_BYTES = 256 * 1024 * 1024
MAX_NPY_BYTES = 1024 * 1024 * 1024

SIZE = 28  # the MNIST field
BOX = 20  # the box the digit is scaled to fit
_CENTRE = SIZE / 2  # where MNIST puts the centre of mass, in pixel indices
_PIXEL_MAX = 255
_BACKGROUND_PERCENTILE = 90
_STROKE = 0.2 * _PIXEL_MAX  # pixels brighter than this make the digit's size
_NPY_SUFFIX = ".npy"
# Pictures are converted at most this many pixels a side: plenty for a digit
# that ends up 20 pixels tall, and a bound on the memory a photo costs.
_WORKING_SIDE = 1024
# The background estimate: strokes narrower than this fraction of the
# shorter side are removed from it; it is computed on a grid of at most
# _BACKGROUND_GRID cells a side, then interpolated.
_BACKGROUND_WINDOW = 0.25
_BACKGROUND_GRID = 64
# Paper in deep shadow is brightened at most this many times.
_MAX_GAIN = 8.0
# Specks: groups of stroke pixels smaller than this fraction of the picture
# (a few pixels of sensor or JPEG noise in a photo) do not make the digit's
# size. 28x28 digits are never affected (the bound is below one pixel).
_SPECK_FRACTION = 5e-4
# Noise is smoothed away with a Gaussian of this fraction of the longer side.
_DENOISE_FRACTION = 1 / 400


def _import_pil():
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        from .._utils.extras import missing_extra

        raise missing_extra("reading pictures", "Pillow", "images") from exc
    return Image, ImageOps


def image_to_mnist(image, *, invert="auto", max_pixels=MAX_PIXELS):
    """Convert a picture of one digit to the 28x28 MNIST image a model sees.

    What ``skmnist predict`` and ``skmnist serve`` do to each picture before
    classifying it: greyscale, inverted to a white digit on black when it is
    dark on light, its background evened out (lighting gradients, shadows,
    vignettes), its contrast stretched, scaled to fit 20x20 and centred in
    28x28 by its centre of mass, as MNIST's digits were. See
    :ref:`the picture conversion <pictures>` in the user guide.

    Parameters
    ----------
    image : str, os.PathLike, bytes, PIL.Image.Image or array-like
        The picture: the path of an image file (PNG, JPEG or anything Pillow
        reads; or a ``.npy`` file holding one image), its encoded bytes, a
        Pillow image, or an array of pixel intensities in [0, 255] of shape
        (height, width) (greyscale), (height, width, 3) (RGB) or
        (height, width, 4) (RGBA, a transparent background taken as white
        paper). A 28x28 array is taken as an MNIST digit already: only
        inverted, when ``invert`` says so.

    invert : {"auto", "always", "never"}, default="auto"
        Whether to invert dark-on-light pictures to MNIST's white-on-black:
        ``"auto"`` inverts those whose border is nearer their brightest
        pixels than their darkest.

    max_pixels : int or None, default=MAX_PIXELS
        Refuse pictures of more pixels (width times height) than this,
        50,000,000 by default; a file's size is read from its header, before
        any pixel is decoded. None sets no limit.

    Returns
    -------
    mnist_image : ndarray of shape (28, 28), dtype uint8
        White digit on black, fitted to 20x20 and centred by mass; all zeros
        for a blank picture.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the picture cannot be read, is larger than ``max_pixels``, has
        values outside [0, 255] or an unsupported shape, or is a path to a
        FIFO, a device or a folder.
    ImportError
        If Pillow is needed (files, bytes, arrays other than 28x28) and not
        installed (``pip install "skmnist[images]"``).

    See Also
    --------
    skmnist.MNISTPreprocessor : Scale the converted images for a network.

    Examples
    --------
    A photo of a dark "1" on paper lit from the left, as an array: the
    lighting gradient goes, the digit is white on black, 20 pixels tall.

    >>> import numpy as np
    >>> from skmnist import image_to_mnist
    >>> light = np.linspace(250, 90, 300)  # bright on the left, dim on the right
    >>> photo = np.tile(light, (200, 1))
    >>> photo[40:160, 140:152] *= 0.2  # the stroke: ink absorbs 80%
    >>> digit = image_to_mnist(photo)
    >>> digit.shape, digit.dtype, int(digit.max())
    ((28, 28), dtype('uint8'), 255)
    >>> int((digit > 127).any(axis=1).sum()), int(digit[:, :8].max())
    (20, 0)
    """
    _check_invert(invert)
    _check_max_pixels(max_pixels)
    if isinstance(image, str | os.PathLike):
        images = read_images(image, invert=invert, max_pixels=max_pixels)
        if len(images) != 1:
            raise ValueError(
                f"{os.fspath(image)}: holds {len(images)} images, not one; "
                "read_images reads them all"
            )
        return images[0]
    if isinstance(image, bytes | bytearray | memoryview):
        return read_image_bytes(bytes(image), invert=invert, max_pixels=max_pixels)
    if _is_pil_image(image):
        return to_mnist(_picture_pixels(image, "the image", max_pixels), invert=invert)
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"pixel values must be numbers, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = _luma(a.astype(np.float64))
    elif a.ndim != 2:
        raise ValueError(
            "expected an image of shape (height, width), (height, width, 3) or "
            f"(height, width, 4), got shape {a.shape}"
        )
    _check_size(a.shape, "the image", max_pixels)
    if a.shape == (SIZE, SIZE):
        return _as_mnist_digits(a[np.newaxis].astype(np.float64), invert, "image")[0]
    return to_mnist(a, invert=invert)


def read_images(path, *, invert="auto", max_pixels=MAX_PIXELS):
    """Read the digit(s) in an image file or ``.npy`` array as MNIST images.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file of greyscale image(s), or an image file Pillow reads
        (PNG, JPEG...) holding one digit. Only a regular file is read (a FIFO
        or a device is refused unread).

    invert : {"auto", "always", "never"}, default="auto"
        Whether to invert dark-on-light pictures to MNIST's white-on-black:
        ``"auto"`` inverts those whose border is nearer their brightest
        pixels than their darkest.

    max_pixels : int or None, default=MAX_PIXELS
        Refuse pictures (and ``.npy`` images that are not 28x28) of more
        pixels than this, from the header, before decoding; None: no limit.

    Returns
    -------
    images : ndarray of shape (n_images, 28, 28), dtype uint8
        One image for a picture file; as many as the array holds for ``.npy``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an image Pillow can read, not a ``.npy`` array of
        image(s) with values in [0, 255], too large, or not a regular file.
    ImportError
        If an image file (or a ``.npy`` image that is not 28x28) needs Pillow
        and it is not installed.
    """
    _check_invert(invert)
    _check_max_pixels(max_pixels)
    path = Path(os.fspath(path))
    if path.suffix.lower() == _NPY_SUFFIX:
        return _read_npy(path, invert, max_pixels)
    with open_regular(path, max_bytes=MAX_PICTURE_BYTES, what="picture") as file:
        picture = _read_picture(file, name=str(path), max_pixels=max_pixels)
    return to_mnist(picture, invert=invert)[np.newaxis]


def read_image_bytes(data, *, invert="auto", max_pixels=MAX_PIXELS, name="image"):
    """Convert an encoded picture (PNG, JPEG...) of one digit to an MNIST image.

    The bytes of an image file, converted exactly as :func:`read_images`
    converts the file.

    Parameters
    ----------
    data : bytes
        The encoded picture, in any format Pillow reads.

    invert : {"auto", "always", "never"}, default="auto"
        See :func:`read_images`.

    max_pixels : int or None, default=MAX_PIXELS
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
    _check_max_pixels(max_pixels)
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
    if max(a.shape) > _WORKING_SIDE:
        a = _reduced(a)

    a = _denoised(a)
    inverted = _should_invert(a, invert)
    if inverted:
        a = _PIXEL_MAX - a
    a = _flatten_background(a, paper=inverted)

    border = _border(a)
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
    strokes = _without_specks(a > _STROKE)
    if not strokes.any():
        return np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, bottom, left, right = _bounding_box(strokes)
    scale = BOX / max(bottom - top, right - left)
    margin = math.ceil(1 / scale)  # one pixel of the result
    t, b, le, r = _bounding_box(a > 0)
    top, left = max(t, top - margin), max(le, left - margin)
    bottom, right = min(b, bottom + margin), min(r, right + margin)
    digit = _resize(a[top:bottom, left:right], scale)
    # Shrinking a photo's thin pen strokes to 20 pixels leaves them grey;
    # MNIST's strokes, however thin, reach full brightness.
    digit *= _PIXEL_MAX / digit.max()
    return _centre(digit)


def _check_invert(invert):
    if not isinstance(invert, str) or invert not in INVERT_MODES:
        raise ValueError(f"invert must be one of {INVERT_MODES}, got {invert!r}")


def _check_max_pixels(max_pixels):
    if max_pixels is not None and (
        isinstance(max_pixels, bool)
        or not isinstance(max_pixels, int | np.integer)
        or max_pixels < 1
    ):
        raise ValueError(
            f"max_pixels must be a positive integer or None, got {max_pixels!r}"
        )


def _check_size(shape, name, max_pixels):
    height, width = shape[:2]
    if max_pixels is not None and width * height > max_pixels:
        raise _TooLarge(
            f"{name}: {width}x{height} pixels, more than the limit of {max_pixels}"
        )


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


def _should_invert(a, invert):
    """Whether ``a`` is dark on light (for ``"auto"``), or as ``invert`` says.

    The border is the background: a picture is dark on light when the
    border's median is nearer its brightest pixels than its darkest. Unlike
    a fixed mid-grey, this holds for paper in dim or uneven light and for
    chalk on a grey board. The extremes are taken after a 3x3 median, so
    that single noisy pixels do not move them.
    """
    if invert != "auto":
        return invert == "always"
    if min(a.shape) >= 3:
        from scipy import ndimage

        smooth = ndimage.median_filter(a, size=3, mode="nearest")
    else:
        smooth = a
    middle = (smooth.min() + smooth.max()) / 2
    return bool(np.median(_border(a)) > middle)


def _denoised(a):
    """``a`` smoothed in proportion to its size: sensor and JPEG noise go.

    A Gaussian of 1/400th of the picture's longer side (none below 200
    pixels, so that small pictures and MNIST's own digits stay sharp): for a
    phone photo a few pixels, far finer than a pen's stroke.
    """
    sigma = max(a.shape) * _DENOISE_FRACTION
    if sigma < 0.5:
        return a
    from scipy import ndimage

    return ndimage.gaussian_filter(a, sigma, mode="nearest")


def _flatten_background(a, *, paper):
    """``a`` (light strokes) less a smooth estimate of its background.

    The estimate is a grey-level opening (strokes narrower than the window
    removed), on a coarse grid, smoothed and interpolated back. For
    ``paper`` (a dark-on-light picture, inverted), whose brightness is
    illumination times reflectance, the difference is also divided by the
    paper's brightness (``255 - background``), so that ink in a shadow gets
    the contrast of ink in full light.
    """
    from scipy import ndimage

    h, w = a.shape
    factor = max(1, min(h, w) // _BACKGROUND_GRID)
    coarse = a
    if factor > 1:  # the minimum of each factor x factor block
        padded = np.pad(a, ((0, -h % factor), (0, -w % factor)), mode="edge")
        coarse = padded.reshape(
            padded.shape[0] // factor, factor, padded.shape[1] // factor, factor
        ).min(axis=(1, 3))
    window = max(3, round(min(h, w) * _BACKGROUND_WINDOW / factor))
    background = ndimage.grey_opening(coarse, size=(window, window), mode="nearest")
    background = ndimage.uniform_filter(background, size=window, mode="nearest")
    # Uneven light reaches the border: no background is brighter than the
    # picture's border. What the opening leaves of a digit's thickest strokes
    # (a 7x7 block of ink in a 28x28 digit) is not background, and goes.
    np.minimum(background, _border(a).max(), out=background)
    if not background.any():
        return a  # already black (MNIST's own digits): nothing to even out
    if factor > 1:
        background = ndimage.zoom(
            background,
            (h / background.shape[0], w / background.shape[1]),
            order=1,
            mode="nearest",
            grid_mode=True,
        )[:h, :w]
    a -= background
    if paper:
        a *= _PIXEL_MAX / np.maximum(_PIXEL_MAX - background, _PIXEL_MAX / _MAX_GAIN)
    np.clip(a, 0, _PIXEL_MAX, out=a)
    return a


def _without_specks(mask):
    """``mask`` less the groups of pixels too small to be part of a stroke."""
    smallest = _SPECK_FRACTION * mask.size
    if smallest < 1:
        return mask
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n <= 1:
        return mask
    areas = np.bincount(labels.ravel())
    keep = areas >= smallest
    keep[0] = False
    if not keep[1:].any():  # only specks: the largest is the digit
        keep[np.argmax(areas[1:]) + 1] = True
    return keep[labels]


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


def _reduced(a):
    """``a`` shrunk (box filter) to at most ``_WORKING_SIDE`` pixels a side."""
    Image, _ = _import_pil()
    h, w = a.shape
    ratio = _WORKING_SIDE / max(h, w)
    size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    reduced = Image.fromarray(a.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return np.clip(np.asarray(reduced, dtype=np.float64), 0, _PIXEL_MAX)


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


def _is_pil_image(obj):
    # Without importing Pillow for arrays: a Pillow image's class lives in PIL.
    return type(obj).__module__.split(".")[0] == "PIL" and hasattr(obj, "getbands")


def _read_picture(file, *, name, max_pixels=MAX_PIXELS):
    """An encoded picture (a file object) as a 2-D float array of greyscale
    intensities, at most ``_WORKING_SIDE`` pixels a side."""
    Image, _ = _import_pil()
    try:
        with Image.open(file) as image:
            # The size is the header's: nothing is decoded before this check.
            _check_size(image.size[::-1], name, max_pixels)
            image.seek(0)  # the first frame of a GIF or TIFF
            return _picture_pixels(image, name, max_pixels)
    except _TooLarge:
        raise
    except (Image.UnidentifiedImageError, Image.DecompressionBombError):
        raise ValueError(f"{name}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Truncated or corrupt data surfaces when the pixels are decoded.
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise ValueError(
            f"{name}: cannot read the image ({type(exc).__name__}: {exc})"
        ) from None


def _picture_pixels(image, name, max_pixels):
    """A Pillow image's greyscale pixels, reduced to the working size."""
    Image, ImageOps = _import_pil()
    _check_size(image.size[::-1], name, max_pixels)
    if max(image.size) > _WORKING_SIDE and image.format == "JPEG":
        # JPEG decodes at 1/2, 1/4 or 1/8 scale for less: no larger than needed.
        ratio = _WORKING_SIDE / max(image.size)
        image.draft(image.mode, tuple(math.ceil(n * ratio) for n in image.size))
    image = ImageOps.exif_transpose(image)
    if max(image.size) > _WORKING_SIDE and image.mode in ("L", "RGB", "RGBA"):
        # Shrunk before conversion, so a big photo never exists as floats.
        factor = math.ceil(max(image.size) / _WORKING_SIDE)
        image = image.reduce(factor)
    return _greyscale(image, Image)


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


def _luma(a):
    """An (h, w, 3|4) colour array as greyscale: ITU-R 601-2 luma, as Pillow's
    ``"L"``; a transparent background is white paper."""
    _check_range(a, "image")
    grey = a[..., :3] @ np.array([0.299, 0.587, 0.114])
    if a.shape[-1] == 4:
        alpha = a[..., 3] / _PIXEL_MAX
        grey = grey * alpha + _PIXEL_MAX * (1 - alpha)
    return np.clip(grey, 0, _PIXEL_MAX)


def _read_npy(path, invert, max_pixels):
    with open_regular(path, max_bytes=MAX_NPY_BYTES, what=".npy array") as file:
        try:
            array = np.load(file, allow_pickle=False)
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
    if array.shape[1:] != (SIZE, SIZE):
        _check_size(array.shape[1:], f"{path}: each image is", max_pixels)
        a = array.astype(np.float64)
        _check_range(a, str(path))
        return np.stack([to_mnist(image, invert=invert) for image in a])
    return _as_mnist_digits(array.astype(np.float64), invert, str(path))


def _as_mnist_digits(a, invert, what):
    """(n, 28, 28) floats in [0, 255] as MNIST digits: only inverted."""
    _check_range(a, what)
    for image in a:
        if _should_invert(image, invert):
            np.subtract(_PIXEL_MAX, image, out=image)
    return np.rint(a).astype(np.uint8)
