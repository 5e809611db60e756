"""Benchmarks of the course's reference layers (run from the repository root, e.g. `make bench`)."""
