"""``python -m experiments.cli``: the ``cartsim`` command without the installed script."""

import sys

from experiments.cli import main

sys.exit(main())
