"""``skmnist serve``: a drawing pad, skmnist's JSON API and the Open Inference
Protocol over HTTP.

Needs the ``serve`` extra; ``import skmnist`` imports none of it, and neither
does importing this package: :func:`create_app` and :func:`run_server` load
Starlette and uvicorn when first used.
"""

__all__ = ["create_app", "run_server"]


def __getattr__(name):
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name == "run_server":
        from ._runner import run_server

        return run_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
