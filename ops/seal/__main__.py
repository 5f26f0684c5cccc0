"""``python -m ops.seal``."""

import sys

from ops.seal.cli import main

sys.exit(main())
