"""The DAGs' helper package (dags/mlops_dags) importable as the DAG processor imports it."""

import sys

from tests.support.stack import REPO_ROOT

if str(REPO_ROOT / "dags") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "dags"))
