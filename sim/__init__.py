"""sim: Monte Carlo evidence for the bounds and checks of the Taylor loss-change formulas."""
