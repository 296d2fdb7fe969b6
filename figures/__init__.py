"""figures: paper figures regenerated from recorded runs, and ``slth reproduce``."""
