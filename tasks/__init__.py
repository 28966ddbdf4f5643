"""Prefect tasks: each runs one DVC stage in a subprocess; never imports torch or deepclust."""
