import sys

from commit_trigger.cli import main

sys.exit(main())
