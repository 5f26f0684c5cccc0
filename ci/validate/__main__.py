"""``python -m ci.validate``: render everything and validate it; exit 1 on findings, 2 when it cannot run.

Settings (environment): CRD_DIR, AIRFLOW_CHART_DIR, BUILD_DIR, HELM, KUBECTL, K8S_VERSION, KUSTOMIZE_REMOTE=1.
"""

from __future__ import annotations

import sys

from ci.validate.findings import Finding, SetupError
from ci.validate.pipeline import run_all
from ci.validate.settings import Settings


def main() -> int:
    settings = Settings.from_env()
    try:
        report = run_all(settings)
    except SetupError as error:
        print(f"validate: {error}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}")
    print("first sync, in apply order (steps of one number run in parallel):")
    for line in report.first_sync.order:
        print(f"  {line}")
    for known in report.first_sync.known_summary:
        print(f"known blocker (ci/validate/firstsync/known_blockers.yaml): {known}")
    blocking = report.first_sync.findings or report.first_sync.known
    if blocking:
        print(f"first object that would block the first sync: {blocking[0]}")
    for finding in report.findings:
        print(f"FAIL {finding}")
    print(
        f"validate: {report.objects} objects checked "
        f"({len(report.rendered)} renders in {settings.build / 'rendered'}), "
        f"{len(report.applications)} Applications from ApplicationSets, "
        f"{len(report.trainer_pods)} trainer pods built from the rendered KPO template, "
        f"{len(report.first_sync.known)} known first-sync blockers, {len(report.findings)} findings"
    )
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["Finding", "main"]
