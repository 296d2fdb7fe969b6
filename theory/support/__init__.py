"""Shared plumbing used by every package: registries, validation, configs, atomic run records.

Pure standard library (no numpy, no torch) so that ``import theory`` stays instant.
"""
