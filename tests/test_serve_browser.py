"""The drawing pad in a real browser: headless Chromium, driven by selenium.

``skmnist serve`` runs on a free loopback port; the test draws digits on the
canvas with W3C pointer actions (mouse, touch and pen), which the page sees as
pointer events, and reads the answer from ``#prediction``. Chromium and its
driver are Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run``
installs them); without them the test is skipped, saying in one line what is
missing, except in CI (the environment variable CI set), where it fails.
The screenshot of the pad is saved in the test's temporary folder, and also
to ``$SKMNIST_SCREENSHOT`` when that is set (that is how
``docs/_static/serve_drawing_pad.png`` was made).

Models of other labels (floats 0.0 to 9.0, booleans, JavaScript property
names such as ``constructor`` and ``__proto__``) are drawn on too: the page
shows their labels as the server names them, with their probabilities, and
its Clear button and footer keep working.
"""

import base64
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _helpers import require_programs
from _server import JS_NAMES, label_model_path, serving
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import skmnist
from skmnist.data._images import read_image_bytes

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAD = 280  # the canvas's size in CSS pixels
WAIT = 30  # seconds, for the page and each answer


def _stroke(points):
    return [(float(x), float(y)) for x, y in points]


# Single-stroke digits, in pad pixels (0..280), roughly as people draw them.
ONE = _stroke((140 - 0.1 * (y - 140), y) for y in range(50, 235, 10))  # leaning
ZERO = _stroke(
    (140 + 62 * math.sin(t), 140 - 92 * math.cos(t))
    for t in np.linspace(0, 2 * math.pi, 41)
)
SEVEN = _stroke(
    [
        *((x, 62) for x in range(78, 205, 14)),
        *((204 - 6 * k, 62 + 17 * k) for k in range(1, 11)),
    ]
)


@pytest.fixture(scope="module")
def browser():
    require_programs(
        "the drawing pad's browser test",
        {"Chromium": CHROMIUM, "chromedriver": CHROMEDRIVER},
        "Debian: apt-get install chromium chromium-driver",
    )
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,800",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(flag)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"skmnist-chromium-{os.getpid()}"
    options.add_argument(f"--user-data-dir={profile}")
    # An explicit driver path: selenium then looks nothing up online.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _draw(driver, points, kind):
    """Draw one stroke through ``points`` with a pointer of ``kind``."""
    pad = driver.find_element(By.ID, "pad")
    pointer = PointerInput(kind, kind)
    # 10 ms per move (selenium's default is 250).
    actions = ActionBuilder(driver, mouse=pointer, duration=10)
    # Offsets are from the element's centre.
    x0, y0 = points[0]
    actions.pointer_action.move_to(pad, round(x0 - PAD / 2), round(y0 - PAD / 2))
    actions.pointer_action.pointer_down()
    for x, y in points[1:]:
        actions.pointer_action.move_to(pad, round(x - PAD / 2), round(y - PAD / 2))
    actions.pointer_action.pointer_up()
    actions.perform()


def _answer(driver):
    """The label shown once the page has its answer."""

    def shown(d):
        label = d.find_element(By.ID, "prediction").text
        pending = d.find_element(By.ID, "status").text
        return label if label and not pending else False

    return WebDriverWait(driver, WAIT).until(shown)


def _canvas_grey(driver, element_id):
    """The red channel of a canvas (the pad and the view are greyscale)."""
    data = driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data);",
        element_id,
    )
    size = int(math.sqrt(len(data) // 4))
    return np.array(data, dtype=np.uint8).reshape(size, size, 4)[..., 0]


def _pad_png(driver):
    url = driver.execute_script("return document.getElementById('pad').toDataURL()")
    return base64.b64decode(url.split(",", 1)[1])


def test_drawing_pad(browser, serve_model_path, tmp_path):
    model = skmnist.load(serve_model_path)
    with serving(serve_model_path, log_path=tmp_path / "serve.log") as server:
        browser.get(server.url)
        WebDriverWait(browser, WAIT).until(
            lambda d: "MNISTMLPClassifier" in d.find_element(By.ID, "model").text
        )
        assert browser.find_element(By.ID, "prediction").text == ""
        assert len(browser.find_elements(By.CSS_SELECTOR, "#bars li")) == 10

        shown = {}
        for digit, points, kind in (
            ("1", ONE, interaction.POINTER_MOUSE),
            ("0", ZERO, interaction.POINTER_TOUCH),
            ("7", SEVEN, interaction.POINTER_PEN),
        ):
            browser.find_element(By.ID, "clear").click()
            assert browser.find_element(By.ID, "prediction").text == ""
            assert not _canvas_grey(browser, "pad").any()  # black again
            _draw(browser, points, kind)
            label = _answer(browser)
            # What the page shows as the model's view is the server's MNIST
            # conversion of what was drawn, and the label is the model's
            # prediction for it.
            seen = _canvas_grey(browser, "seen")
            converted = read_image_bytes(_pad_png(browser))
            np.testing.assert_array_equal(seen, converted)
            assert seen.any()
            assert label == str(model.predict(seen[np.newaxis])[0])
            best = browser.find_element(By.CSS_SELECTOR, "#bars li.best")
            assert best.get_attribute("data-label") == label
            shown[digit] = label
        screenshot = tmp_path / "serve_drawing_pad.png"
        assert browser.save_screenshot(str(screenshot))
        if os.environ.get("SKMNIST_SCREENSHOT"):
            shutil.copyfile(screenshot, os.environ["SKMNIST_SCREENSHOT"])
        logs = browser.get_log("browser")
    # Drawn plainly, the three digits are read right even by the test's
    # small model.
    assert shown == {"1": "1", "0": "0", "7": "7"}
    assert [entry for entry in logs if entry["level"] == "SEVERE"] == []
    posts = [line for line in server.request_lines() if line["method"] == "POST"]
    assert [line["status"] for line in posts] == ["200"] * len(posts)
    assert len(posts) == 3


def _label_name(label):
    label = label.item() if isinstance(label, np.generic) else label
    return repr(label) if isinstance(label, float) else str(label)


@pytest.mark.parametrize("kind", ["float", "even", "names"])
def test_drawing_pad_with_other_labels(browser, kind, mnist, tmp_path_factory):
    path = label_model_path(kind, mnist, tmp_path_factory)
    model = skmnist.load(path)
    names = [_label_name(label) for label in model.classes_]
    log = tmp_path_factory.mktemp(f"browser-{kind}") / "serve.log"
    with serving(path, log_path=log) as server:
        browser.get(server.url)
        WebDriverWait(browser, WAIT).until(
            lambda d: "MNISTMLPClassifier" in d.find_element(By.ID, "model").text
        )
        bars = browser.find_elements(By.CSS_SELECTOR, "#bars li")
        assert [bar.get_attribute("data-label") for bar in bars] == names
        assert {bar.find_element(By.CLASS_NAME, "value").text for bar in bars} == {
            "0.000"
        }
        for points, pointer in (
            (SEVEN, interaction.POINTER_PEN),
            (ONE, interaction.POINTER_MOUSE),
        ):
            browser.find_element(By.ID, "clear").click()
            assert browser.find_element(By.ID, "prediction").text == ""
            _draw(browser, points, pointer)
            label = _answer(browser)
            seen = _canvas_grey(browser, "seen")
            assert label == _label_name(model.predict(seen[np.newaxis])[0])
            best = browser.find_element(By.CSS_SELECTOR, "#bars li.best")
            assert best.get_attribute("data-label") == label
            proba = model.predict_proba(seen[np.newaxis])[0]
            shown = browser.find_element(By.ID, "confidence").text
            assert shown == f"probability {proba[names.index(label)]:.3f}"
            values = [
                float(bar.find_element(By.CLASS_NAME, "value").text)
                for bar in browser.find_elements(By.CSS_SELECTOR, "#bars li")
            ]
            np.testing.assert_allclose(values, proba, atol=5e-4)
            assert browser.find_element(By.ID, "status").text == ""
        browser.find_element(By.ID, "clear").click()
        assert browser.find_element(By.ID, "prediction").text == ""
        assert not _canvas_grey(browser, "pad").any()
        logs = browser.get_log("browser")
    assert [entry for entry in logs if entry["level"] == "SEVERE"] == []
    if kind == "names":
        assert set(names) == set(JS_NAMES)
