"""Plumbing every package uses (not math): dataclass configs, atomic records, run directories, progress.

Pure standard library (no numpy, no torch) so that ``import theory`` stays instant. Input validation
(:mod:`theory.validate`) and plain-dict registries (:mod:`theory.registry`) live beside the math.
"""
