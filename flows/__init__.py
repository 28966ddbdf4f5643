"""Prefect flows and deployments for deepclust; they read DVC's stage graph and never import torch."""
