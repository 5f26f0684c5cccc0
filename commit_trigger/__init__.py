"""The commit trigger: given a commit and the paths it changed, start `ml_train_register_and_reload` once
per affected training config, with a run id derived from the commit and the config (a repeated trigger
of the same commit starts nothing). Runs as the Argo CD PostSync hook of the Airflow Application and in
`make demo`: `python -m commit_trigger --sha SHA (--changed PATH... | --repo DIR | --clone URL)`."""
