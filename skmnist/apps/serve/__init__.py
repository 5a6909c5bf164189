"""``skmnist serve``: a drawing pad and a prediction API over HTTP.

Needs the ``serve`` extra; ``import skmnist`` imports none of it.
"""

from ._app import create_app, run_server

__all__ = ["create_app", "run_server"]
