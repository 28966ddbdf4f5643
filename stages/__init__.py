"""One module per dvc.yaml stage; each runs as `python -m stages.<name>` and holds no algorithm."""
