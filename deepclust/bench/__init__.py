"""Benchmarks of library components, run as `python -m deepclust.bench.<name>`; nothing imports them."""
