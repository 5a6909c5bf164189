"""Class labels as the server shows them: JSON values, names, V2 datatypes.

A fitted classifier's ``classes_`` may hold integers, floats, booleans,
strings or bytes, as NumPy scalars or Python objects. The answers carry each
label as a JSON value (``7``, ``7.0``, ``true``, ``"seven"``) and key the
probabilities by the label's *name*, its text as Python writes it (``"7"``,
``"7.0"``, ``"True"``, ``"seven"``): JSON numbers lose the difference between
``7`` and ``7.0``, names keep it. Bytes are served as their UTF-8 text.

Labels that JSON cannot carry faithfully are refused when the server starts,
never answered with 500s: NaN and infinite floats, bytes that are not UTF-8,
other types, and two labels with the same name.
"""

import math

import numpy as np

__all__ = ["Labels"]

_INT64 = (-(2**63), 2**63 - 1)


class Labels:
    """The classes of a model, checked and converted once.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        The model's ``classes_``.

    Attributes
    ----------
    values : list
        Each class as a JSON value (int, float, bool or str).
    names : list of str
        Each class's name: the keys of ``probabilities`` in the answers.
    datatype : str
        The Open Inference Protocol datatype of the ``label`` output:
        ``BOOL``, ``INT64``, ``FP64`` or ``BYTES`` (the names).

    Raises
    ------
    ValueError
        If a class cannot be served (see the module's description).

    Examples
    --------
    >>> import numpy as np
    >>> from skmnist.apps.serve._labels import Labels
    >>> labels = Labels(np.array([0.0, 7.0]))
    >>> labels.values, labels.names, labels.datatype
    ([0.0, 7.0], ['0.0', '7.0'], 'FP64')
    >>> Labels(np.array([b"no", b"yes"])).values
    ['no', 'yes']
    >>> Labels(np.array([np.nan, 1.0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the model's classes include nan: a label must be a finite number...
    """

    def __init__(self, classes):
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(classes) < 1:
            raise ValueError(
                f"the model's classes_ must be a 1-D array of labels, not of shape "
                f"{classes.shape}"
            )
        self.values = [_value(label) for label in classes.tolist()]
        self.names = [_name(value) for value in self.values]
        seen = {}
        for value, name in zip(self.values, self.names, strict=True):
            if name in seen:
                raise ValueError(
                    f"the model's classes {seen[name]!r} and {value!r} have the same "
                    f"name {name!r}: the answers could not tell them apart"
                )
            seen[name] = value
        self.datatype = _datatype(self.values)

    def __len__(self):
        return len(self.values)

    def v2_values(self, indices):
        """The ``label`` output's JSON data for these class indices."""
        source = self.names if self.datatype == "BYTES" else self.values
        return [source[i] for i in indices]


def _value(label):
    if isinstance(label, np.generic):  # an object array's NumPy scalars
        label = label.item()
    if isinstance(label, bool):
        return label
    if isinstance(label, int):
        return label
    if isinstance(label, float):
        if not math.isfinite(label):
            raise ValueError(
                f"the model's classes include {label}: a label must be a finite "
                "number, a boolean or text to be served"
            )
        return label
    if isinstance(label, str):
        return label
    if isinstance(label, bytes):
        try:
            return label.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                f"the model's classes include {label!r}, bytes that are not UTF-8 "
                "text: they cannot be served as JSON text"
            ) from None
    raise ValueError(
        f"the model's classes include {label!r} of type {type(label).__name__}: "
        "a label must be a number, a boolean or text to be served"
    )


def _name(value):
    return repr(value) if isinstance(value, float) else str(value)


def _datatype(values):
    kinds = {type(value) for value in values}
    if kinds == {bool}:
        return "BOOL"
    if kinds == {int}:
        # Beyond 64 bits, an integer travels as its text.
        fits = all(_INT64[0] <= v <= _INT64[1] for v in values)
        return "INT64" if fits else "BYTES"
    if kinds == {int, float} or kinds == {float}:
        return "FP64"
    return "BYTES"
