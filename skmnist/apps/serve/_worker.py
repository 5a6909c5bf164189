"""``python -m skmnist.apps.serve._worker CONFIG``: one worker process of
``skmnist serve --workers N``, started by :mod:`._runner`."""

import sys

from ._runner import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
