"""``python -m ops.certs``."""

import sys

from ops.certs.cli import main

sys.exit(main())
