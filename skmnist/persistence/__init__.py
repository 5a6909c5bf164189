"""skmnist's safe file format: :func:`save` and :func:`load`."""

from ._format import FORMAT_NAME, FORMAT_VERSION, load, save

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "save"]
