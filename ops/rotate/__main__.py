"""``python -m ops.rotate``."""

import sys

from ops.rotate.cli import main

sys.exit(main())
