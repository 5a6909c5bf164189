"""MNISTPreprocessor: the tutorial's reshape-and-scale step."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skmnist import MNISTPreprocessor


def test_matches_the_tutorial_on_real_mnist(mnist):
    (X_train, _), _ = mnist
    expected = X_train.reshape(60000, 784).astype("float32") / 255

    out = MNISTPreprocessor().fit_transform(X_train)

    assert out.dtype == np.float32
    assert out.shape == (60000, 784)
    np.testing.assert_array_equal(out, expected)
    assert out.min() == 0.0 and out.max() == 1.0


def test_flat_rows_and_images_give_the_same_output(mnist):
    (X_train, _), _ = mnist
    images = X_train[:50]
    pre = MNISTPreprocessor().fit(images)

    np.testing.assert_array_equal(
        pre.transform(images), pre.transform(images.reshape(50, -1))
    )
    assert pre.n_features_in_ == 784
    assert pre.image_shape_ == (28, 28)


def test_float_pixels_are_scaled_like_uint8():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    pre = MNISTPreprocessor().fit(images)
    np.testing.assert_array_equal(
        pre.transform(images), pre.transform(images.astype(np.float64))
    )


def test_any_square_image_size_is_flattened():
    images = np.random.RandomState(0).randint(0, 256, size=(4, 8, 8))
    out = MNISTPreprocessor().fit_transform(images)
    assert out.shape == (4, 64)


def test_rectangular_images_record_their_shape():
    images = np.zeros((3, 4, 6), dtype=np.uint8)
    pre = MNISTPreprocessor().fit(images)
    assert pre.image_shape_ == (4, 6)
    assert pre.get_feature_names_out()[:7].tolist() == [
        "pixel_0_0",
        "pixel_0_1",
        "pixel_0_2",
        "pixel_0_3",
        "pixel_0_4",
        "pixel_0_5",
        "pixel_1_0",
    ]


@pytest.mark.parametrize(
    "bad, message",
    [
        (-1.0, "Negative values in data passed to MNISTPreprocessor"),
        (256.0, r"\[0, 255\]"),
    ],
)
def test_out_of_range_pixels_are_rejected(bad, message):
    X = np.zeros((2, 784))
    X[1, 5] = bad
    with pytest.raises(ValueError, match=message):
        MNISTPreprocessor().fit(X)
    pre = MNISTPreprocessor().fit(np.zeros((2, 784)))
    with pytest.raises(ValueError, match=message):
        pre.transform(X)


def test_nan_is_rejected():
    X = np.zeros((2, 784))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MNISTPreprocessor().fit(X)


def test_wrong_number_of_pixels_is_rejected(mnist):
    (X_train, _), _ = mnist
    pre = MNISTPreprocessor().fit(X_train[:10])
    with pytest.raises(ValueError, match="784 features"):
        pre.transform(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="784 features"):
        pre.transform(np.zeros((2, 10, 10)))


def test_images_of_another_shape_with_the_same_pixel_count_are_rejected():
    pre = MNISTPreprocessor().fit(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"shape \(14, 56\)"):
        pre.transform(np.zeros((2, 14, 56)))


def test_string_features_are_rejected():
    with pytest.raises(ValueError, match=r"could not convert|dtype"):
        MNISTPreprocessor().fit(np.array([["a", "b"], ["c", "d"]], dtype=object))


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="MNISTPreprocessor"):
        MNISTPreprocessor().transform(np.zeros((1, 784)))


def test_feature_names_for_mnist():
    pre = MNISTPreprocessor().fit(np.zeros((1, 784)))
    names = pre.get_feature_names_out()
    assert len(names) == 784
    assert (
        names[0] == "pixel_0_0"
        and names[29] == "pixel_1_1"
        and names[-1] == "pixel_27_27"
    )


def test_feature_names_for_non_square_rows():
    pre = MNISTPreprocessor().fit(np.zeros((1, 10)))
    assert pre.image_shape_ is None
    assert pre.get_feature_names_out().tolist() == [f"pixel_{i}" for i in range(10)]


def test_pandas_output_keeps_pixel_names(mnist):
    (X_train, _), _ = mnist
    pre = MNISTPreprocessor().set_output(transform="pandas")

    out = pre.fit_transform(X_train[:5])

    assert isinstance(out, pd.DataFrame)
    assert out.shape == (5, 784)
    assert out.columns[100] == "pixel_3_16"
    np.testing.assert_array_equal(
        out.to_numpy(), X_train[:5].reshape(5, -1) / np.float32(255)
    )


def test_pandas_input_names_pass_through():
    frame = pd.DataFrame({"a": [0, 255], "b": [51, 0]})
    pre = MNISTPreprocessor().fit(frame)
    assert pre.get_feature_names_out().tolist() == ["a", "b"]
    np.testing.assert_allclose(pre.transform(frame), [[0, 0.2], [1, 0]])


def test_output_is_aligned_for_tensorflow_to_share(mnist):
    # Training hands the scaled images to TensorFlow without a copy only when
    # they start on a 64-byte boundary; NumPy alone guarantees 16.
    (X_train, _), _ = mnist
    pre = MNISTPreprocessor().fit(X_train[:10])
    for n in (1, 7, 1000):
        out = pre.transform(X_train[:n])
        assert out.ctypes.data % 64 == 0
        assert out.flags.c_contiguous and out.flags.writeable
