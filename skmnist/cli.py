"""The ``skmnist`` command line (``skmnist train``, ``predict``, ``evaluate``...).

Defined in :mod:`skmnist.apps.cli`; this module is its public name.
"""

from .apps.cli import build_parser, main

__all__ = ["build_parser", "main"]
