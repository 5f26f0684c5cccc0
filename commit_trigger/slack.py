"""One Slack message per trigger call (incoming webhook), so the channel says which commit started which
run; a Slack outage is reported on stderr and never fails the trigger."""

import sys

import httpx

from commit_trigger.trigger import Report, summary_lines

ICONS = {"started": ":arrow_forward:", "already": ":repeat:", "nothing": ":zzz:"}


def message(report: Report) -> str:
    if report.started:
        icon = ICONS["started"]
    elif report.outcomes:
        icon = ICONS["already"]
    else:
        icon = ICONS["nothing"]
    return f"{icon} " + "\n".join(summary_lines(report))


def post(webhook_url: str, report: Report) -> bool:
    try:
        response = httpx.post(webhook_url, json={"text": message(report)}, timeout=10)
        response.raise_for_status()
        return True
    except httpx.HTTPError as error:
        print(f"warning: Slack message not sent: {type(error).__name__}: {error}", file=sys.stderr)
        return False
