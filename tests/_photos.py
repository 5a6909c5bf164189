"""Real-looking photos of real MNIST digits, for the picture conversion tests.

Each photo is made from an MNIST test digit the way a camera would see it
written on paper (or in chalk on a board): the digit enlarged, its strokes
made thicker or thinner, rotated by a few degrees and placed off centre on a
larger sheet; the sheet's reflectance (ink absorbs, paper reflects) times an
uneven illumination (a gradient across the sheet, a vignette, a soft
shadow), sensor noise, a colour cast, and JPEG compression.
"""

import io

import numpy as np
from PIL import Image, ImageFilter

LIGHTINGS = ("flat", "gradient", "vignette", "shadow")


def illumination(shape, lighting, rng):
    """Light falling on the sheet, in (0, 1]: 1 is full light."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    y, x = y / (h - 1), x / (w - 1)
    if lighting == "flat":
        return np.full(shape, 0.95)
    if lighting == "gradient":  # a lamp to one side: 3 times brighter there
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)) * np.sqrt(2)
        return 0.65 + 0.35 * np.clip(t, -1, 1)
    if lighting == "vignette":  # corners at 40% of the centre's light
        r2 = (x - 0.5) ** 2 + (y - 0.5) ** 2
        return 1.0 - 1.2 * r2
    if lighting == "shadow":  # a hand's soft shadow over a third of the sheet
        edge = rng.uniform(0.55, 0.7)
        t = (x + 0.3 * y) / 1.3
        return 1.0 - 0.55 / (1 + np.exp(-(t - edge) / 0.04))
    raise ValueError(lighting)


def photo(
    digit,
    *,
    rng,
    lighting="gradient",
    dark_on_light=True,
    stroke=0,
    rotation=0.0,
    noise=4.0,
    jpeg_quality=80,
    sheet=(300, 400),
):
    """A JPEG (bytes, or PNG with ``jpeg_quality=None``) photo of ``digit``.

    ``stroke`` widens (> 0) or narrows (< 0) the strokes by that many pixels
    of the enlarged digit (10 per MNIST pixel); ``rotation`` is in degrees.
    """
    scale = 8
    big = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize(
        (28 * scale, 28 * scale), Image.Resampling.BICUBIC
    )
    if stroke > 0:
        big = big.filter(ImageFilter.MaxFilter(2 * stroke + 1))
    elif stroke < 0:
        big = big.filter(ImageFilter.MinFilter(-2 * stroke + 1))
    big = big.rotate(rotation, resample=Image.Resampling.BICUBIC)
    ink = np.asarray(big, dtype=np.float64) / 255

    h, w = sheet
    field = np.zeros(sheet)
    top = rng.integers(0, h - ink.shape[0] + 1)
    left = rng.integers(0, w - ink.shape[1] + 1)
    field[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    if dark_on_light:  # paper reflects 85%, ink 8%
        reflectance = 0.85 - 0.77 * field
    else:  # a board reflects 12%, chalk 80%
        reflectance = 0.12 + 0.68 * field
    light = illumination(sheet, lighting, rng)
    grey = 255 * light * reflectance + rng.normal(0, noise, sheet)
    tint = np.array([1.0, 0.96, 0.88])  # warm indoor light
    rgb = np.clip(grey[..., np.newaxis] * tint, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    if jpeg_quality is None:
        Image.fromarray(rgb, "RGB").save(buffer, format="PNG")
    else:
        Image.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue()


# The conditions the tests (tests/test_images.py) and the user guide's table
# measure, by name.
CONDITIONS = {
    "flat light, dark on light": {"lighting": "flat"},
    "gradient, dark on light": {"lighting": "gradient"},
    "gradient, light on dark": {"lighting": "gradient", "dark_on_light": False},
    "vignette": {"lighting": "vignette"},
    "vignette, light on dark": {"lighting": "vignette", "dark_on_light": False},
    "shadow": {"lighting": "shadow"},
    "thick strokes": {"lighting": "gradient", "stroke": 8},
    "thin strokes": {"lighting": "gradient", "stroke": -4},
    "rotated 7 degrees": {"lighting": "vignette", "rotation": 7},
    "rotated -6 degrees": {"lighting": "shadow", "rotation": -6},
    "noisy, JPEG quality 60": {"lighting": "gradient", "noise": 12, "jpeg_quality": 60},
}


def main(argv=None):
    """Print the accuracy of the tutorial network on photos, per condition.

    ``python tests/_photos.py [--digits N] [--seed S]``: trains the tutorial
    pipeline with ``random_state=1`` (what ``skmnist train --random-state 1``
    trains) on MNIST, found as ``load_mnist()`` finds it, then photographs N
    test digits (among the first 2,000, those it reads right as MNIST stores
    them) under each condition and reads them back with ``skmnist predict``'s
    conversion.
    """
    import argparse
    import time

    from skmnist import load_mnist, make_mnist_pipeline
    from skmnist.data._images import read_image_bytes

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (X_train, y_train), (X_test, y_test) = load_mnist()
    model = make_mnist_pipeline(random_state=1).fit(X_train, y_train)
    right = np.flatnonzero(model.predict(X_test[:2000]) == y_test[:2000])
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(right, args.digits, replace=False)
    print(f"tutorial network (random_state=1), {args.digits} digits per condition")
    print("| condition | right | seconds per photo |")
    print("| --- | --- | --- |")
    for name, condition in CONDITIONS.items():
        photos = [photo(X_test[i], rng=rng, **condition) for i in chosen]
        start = time.perf_counter()
        converted = np.stack([read_image_bytes(data) for data in photos])
        seconds = (time.perf_counter() - start) / len(photos)
        accuracy = np.mean(model.predict(converted) == y_test[chosen])
        print(f"| {name} | {accuracy:.3f} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
