"""Code the DAGs share: settings, conf models, pod tasks, MLflow and gateway clients, Slack, release steps.

Imports nothing from `trainer`, `serving` or `ops` (design.md §4): the trainer is reached through the pod
contract (argv, env, result JSON) and the gateway and MLflow over HTTP.
"""
