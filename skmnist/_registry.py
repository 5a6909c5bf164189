"""The estimators and the named networks skmnist knows, registered, not listed.

Two tables, filled by the modules that define what they hold:

* **estimator classes**: what :func:`skmnist.save` may write and
  :func:`skmnist.load` may create (nothing else is ever instantiated from a
  file), and what :func:`skmnist.to_onnx` has converters for;
* **named networks**: a name (``"mlp"``, ``"cnn"``, ``"lenet5"``...) and a
  factory of an unfitted classifier, which :func:`skmnist.make_mnist_pipeline`,
  ``skmnist train --network`` and the tests find networks by.

A network of one's own joins both with :func:`register_estimator` (for a
classifier class of its own) and :func:`register_network` (for a name).
"""

_ESTIMATORS = {}
_NETWORKS = {}


def register_estimator(cls=None, *, name=None):
    """Register an estimator class with the file format and the ONNX export.

    Use it as a class decorator, with or without arguments. Only registered
    classes are saved by :func:`skmnist.save` and created by
    :func:`skmnist.load`; to load a file that holds a class of your own,
    import the module that registers it first.

    Parameters
    ----------
    cls : type
        An estimator class (typically a subclass of
        :class:`~skmnist.NetworkClassifier`).

    name : str, default=None
        The name files store it under; its class name by default. A name
        taken by another class is refused.

    Returns
    -------
    cls : type
        The class, unchanged (or a decorator, when called without ``cls``).

    Examples
    --------
    >>> import skmnist
    >>> @skmnist.register_estimator
    ... class MyClassifier(skmnist.NetworkClassifier):
    ...     '''NetworkClassifier under a name of its own.'''
    >>> skmnist.registered_estimators()["MyClassifier"] is MyClassifier
    True
    """
    if cls is None:
        return lambda cls: register_estimator(cls, name=name)
    key = cls.__name__ if name is None else name
    known = _ESTIMATORS.get(key)
    if known is not None and known is not cls and _origin(known) != _origin(cls):
        raise ValueError(
            f"the estimator name {key!r} is already registered by {_origin(known)}"
        )
    _ESTIMATORS[key] = cls
    cls._skmnist_name = key
    return cls


def registered_estimators():
    """The registered estimator classes, by the name files store them under.

    Returns
    -------
    estimators : dict of str to type
        ``{name: class}``, skmnist's own and those registered with
        :func:`register_estimator`.

    Examples
    --------
    >>> import skmnist
    >>> sorted(skmnist.registered_estimators())[:3]
    ['MNISTCNNClassifier', 'MNISTMLPClassifier', 'MNISTPreprocessor']
    """
    return dict(_ESTIMATORS)


def estimator_name(cls):
    """The name files store ``cls`` under, or None when it is not registered.

    Subclasses of a registered class are not registered by inheritance: they
    would load as another class.
    """
    key = cls.__dict__.get("_skmnist_name")
    return key if key is not None and _ESTIMATORS.get(key) is cls else None


def register_network(name, factory, description):
    """Register a network under a name, for ``make_mnist_pipeline`` and the CLI.

    Parameters
    ----------
    name : str
        A short name, such as ``"lenet5"``: ``make_mnist_pipeline(name)`` and
        ``skmnist train --network name`` build it.

    factory : callable
        ``factory(**params)`` returns a new unfitted classifier; ``params``
        are the classifier's parameters (``epochs=3``...).

    description : str
        One line, for ``skmnist train --help`` and the docs.

    Returns
    -------
    factory : callable
        The factory, unchanged.

    Examples
    --------
    >>> import skmnist
    >>> from skmnist.layers import Dense, Dropout
    >>> _ = skmnist.register_network(
    ...     "tiny",
    ...     lambda **params: skmnist.NetworkClassifier(
    ...         layers=[Dense(32, activation="relu"), Dropout(0.1)], **params
    ...     ),
    ...     "one hidden layer of 32 units",
    ... )
    >>> type(skmnist.make_mnist_pipeline("tiny", epochs=2)[-1]).__name__
    'NetworkClassifier'
    """
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"a network name must be an identifier, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {factory!r}")
    _NETWORKS[name] = (factory, str(description))
    return factory


def registered_networks():
    """The registered networks: their names and one-line descriptions.

    Returns
    -------
    networks : dict of str to str
        ``{name: description}``; each name is a ``network`` for
        :func:`make_mnist_pipeline` and ``skmnist train --network``.

    Examples
    --------
    >>> import skmnist
    >>> list(skmnist.registered_networks())[:4]
    ['mlp', 'cnn', 'lenet5', 'resnet']
    """
    return {name: description for name, (_, description) in _NETWORKS.items()}


def make_network(name, **params):
    """A new unfitted classifier of the network registered as ``name``."""
    if name not in _NETWORKS:
        raise ValueError(
            f"network must be one of {sorted(_NETWORKS)}, got {name!r} (register "
            "others with skmnist.register_network)"
        )
    return _NETWORKS[name][0](**params)


def _origin(cls):
    return f"{cls.__module__}.{cls.__qualname__}"
