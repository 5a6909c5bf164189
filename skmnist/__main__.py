"""``python -m skmnist``: the same as the ``skmnist`` command."""

import sys

from .apps.cli import main

sys.exit(main())
