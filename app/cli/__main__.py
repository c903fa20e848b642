"""``python -m app.cli``: the ``certsvc`` command."""

import sys

from app.cli import main

sys.exit(main())
