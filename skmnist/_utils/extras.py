"""Optional dependencies: one message for a missing one, naming its extra.

skmnist's optional features need packages that ``pip install skmnist`` does
not install: Pillow for pictures (the ``images`` extra), matplotlib for
figures (``plot``), skl2onnx and onnx for ONNX export (``onnx``), Starlette
and uvicorn for ``skmnist serve`` (``serve``). When one is missing, the error
names the package and both ways to install the extra: from PyPI, and from a
checkout of skmnist's repository (where ``pip install "skmnist[...]"`` would
look for skmnist on PyPI instead of installing the checkout).
"""

__all__ = ["MissingExtraError", "install_hint", "missing_extra", "require"]

# The packages each extra installs, by the name a user would pip install,
# keyed by the top-level module that an ImportError names.
EXTRA_OF_MODULE = {
    "PIL": ("Pillow", "images"),
    "matplotlib": ("matplotlib", "plot"),
    "skl2onnx": ("skl2onnx", "onnx"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "starlette": ("Starlette", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "anyio": ("anyio (a dependency of Starlette)", "serve"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message says how to add it.

    Attributes
    ----------
    package : str
        The missing package, as pip names it (``"Pillow"``).
    extra : str
        skmnist's extra that installs it (``"images"``).
    """

    def __init__(self, message, *, package, extra):
        super().__init__(message)
        self.package = package
        self.extra = extra


def install_hint(extra):
    """How to install ``extra``, from PyPI and from a checkout."""
    return (
        f'pip install "skmnist[{extra}]" (from a checkout of skmnist: '
        f'pip install ".[{extra}]")'
    )


def missing_extra(purpose, package, extra):
    """The error to raise when ``purpose`` needs ``package`` from ``extra``.

    Examples
    --------
    >>> from skmnist._utils.extras import missing_extra
    >>> print(missing_extra("reading pictures", "Pillow", "images"))
    reading pictures needs Pillow, which is not installed: pip install "skmnist[images]" (from a checkout of skmnist: pip install ".[images]")
    """  # noqa: E501
    return MissingExtraError(
        f"{purpose} needs {package}, which is not installed: {install_hint(extra)}",
        package=package,
        extra=extra,
    )


def require(modules, *, purpose):
    """Import ``modules`` (top-level names), or raise the missing one's error.

    For a command to check its optional dependencies before it starts work.

    Examples
    --------
    >>> from skmnist._utils.extras import require
    >>> require(("numpy",), purpose="counting")
    >>> require(("PIL", "no_such_module_xyz"), purpose="a test")
    Traceback (most recent call last):
    ...
    ImportError: a test needs no_such_module_xyz, which is not installed
    """
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if module not in EXTRA_OF_MODULE:
                raise ImportError(
                    f"{purpose} needs {module}, which is not installed"
                ) from exc
            package, extra = EXTRA_OF_MODULE[module]
            raise missing_extra(purpose, package, extra) from exc
