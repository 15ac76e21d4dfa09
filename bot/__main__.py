"""``python -m bot`` is ``videojobs-bot``."""

import sys

from .cli import main

sys.exit(main())
