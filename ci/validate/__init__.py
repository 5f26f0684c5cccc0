"""Offline validation of everything GitOps: render charts and kustomizations, check schemas and policies.

Run as ``python -m ci.validate`` (what ``make lint`` calls through ci/lint.sh); tests import the modules.
"""
