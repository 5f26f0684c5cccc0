"""`python -m trainer ...`."""

import sys

from trainer.cli import run

if __name__ == "__main__":
    sys.exit(run())
