"""Every public class and function has a complete numpydoc docstring.

The examples in these docstrings run as doctests with
``pytest --doctest-modules skmnist`` (``.ci/run`` does); this checks that they
are there, and that the Parameters sections name the real parameters.
"""

import inspect
import re

import pytest

import skmnist
from skmnist import cli
from skmnist.networks._base import BaseNetworkClassifier

PUBLIC = (
    {
        f"skmnist.{name}": getattr(skmnist, name)
        for name in skmnist.__all__
        if name != "__version__"
    }
    | {"skmnist.cli.main": cli.main, "skmnist.cli.build_parser": cli.build_parser}
    | {
        f"skmnist.networks.{name}": getattr(skmnist.networks, name)
        for name in ("lenet5", "residual_network")
    }
)
# The layer kinds and the functions of skmnist.layers.
LAYERS = {
    f"skmnist.layers.{name}": getattr(skmnist.layers, name)
    for name in skmnist.layers.__all__
    if callable(getattr(skmnist.layers, name))
}

_SECTION = re.compile(r"^\s*(\w[\w ]*)\n\s*-{3,}\s*$", re.MULTILINE)


def _sections(obj):
    """{section title: its text} of a numpydoc docstring."""
    doc = inspect.getdoc(obj) or ""
    headers = list(_SECTION.finditer(doc))
    sections = {"Summary": doc[: headers[0].start()] if headers else doc}
    if not headers:
        return sections
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following else len(doc)
        sections[header.group(1)] = doc[header.end() : end]
    return sections


def _documented_parameters(text):
    return [
        name
        for name in re.findall(r"^(\*{0,2}\w+)(?: : .*)?$", text, re.MULTILINE)
        if name
    ]


def _signature_parameters(obj):
    names = []
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.name == "self":
            continue
        prefix = {
            inspect.Parameter.VAR_POSITIONAL: "*",
            inspect.Parameter.VAR_KEYWORD: "**",
        }.get(parameter.kind, "")
        names.append(prefix + parameter.name)
    return names


def test_the_public_api_is_all_checked():
    assert set(PUBLIC) == {
        "skmnist.MNISTCNNClassifier",
        "skmnist.MNISTMLPClassifier",
        "skmnist.MNISTPreprocessor",
        "skmnist.MNISTUnavailableError",
        "skmnist.NetworkClassifier",
        "skmnist.image_to_mnist",
        "skmnist.load",
        "skmnist.load_mnist",
        "skmnist.make_mnist_pipeline",
        "skmnist.register_estimator",
        "skmnist.register_network",
        "skmnist.registered_estimators",
        "skmnist.registered_networks",
        "skmnist.save",
        "skmnist.to_onnx",
        "skmnist.cli.main",
        "skmnist.cli.build_parser",
        "skmnist.networks.lenet5",
        "skmnist.networks.residual_network",
    }


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_kinds_and_functions_have_numpydoc_docstrings(name):
    obj = LAYERS[name]
    sections = _sections(obj)
    assert sections["Summary"].strip(), f"{name} has no summary"
    if inspect.isclass(obj) and issubclass(obj, skmnist.layers.Layer):
        assert ">>> " in sections.get("Examples", ""), f"{name}: no Examples"
        if obj.__init__ is object.__init__:
            return
        expected = _signature_parameters(obj.__init__)
        if expected:
            documented = _documented_parameters(sections.get("Parameters", ""))
            assert documented == expected, f"{name}: Parameters section"
        return
    if not inspect.isclass(obj):
        assert "Returns" in sections, f"{name} has no Returns section"
        documented = _documented_parameters(sections.get("Parameters", ""))
        assert documented == _signature_parameters(obj), f"{name}: Parameters"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_docstring_has_the_numpydoc_sections(name):
    obj = PUBLIC[name]
    sections = _sections(obj)
    assert sections["Summary"].strip(), f"{name} has no summary"
    assert "Examples" in sections, f"{name} has no Examples section"
    assert ">>> " in sections["Examples"], f"{name}: Examples without code"
    if inspect.isclass(obj):
        assert "Attributes" in sections, f"{name} has no Attributes section"
        if issubclass(obj, Exception):
            assert _documented_parameters(sections["Parameters"]) == ["message"]
            return
        init = obj.__init__
        expected = _signature_parameters(init) if init is not object.__init__ else []
    else:
        assert "Returns" in sections, f"{name} has no Returns section"
        expected = _signature_parameters(obj)
    if expected:
        documented = _documented_parameters(sections.get("Parameters", ""))
        assert documented == expected, f"{name}: Parameters section"
    else:
        assert "Parameters" not in sections


# The networks' public methods live in their shared base class.
@pytest.mark.parametrize(
    "cls", [BaseNetworkClassifier, skmnist.MNISTPreprocessor], ids=str
)
def test_public_methods_document_parameters_and_returns(cls):
    methods = [
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    ]
    assert methods
    for name in methods:
        sections = _sections(getattr(cls, name))
        assert "Returns" in sections, f"{cls.__name__}.{name}: no Returns"
        expected = _signature_parameters(getattr(cls, name))
        if expected:
            documented = _documented_parameters(sections["Parameters"])
            assert documented == expected, f"{cls.__name__}.{name}: Parameters"
