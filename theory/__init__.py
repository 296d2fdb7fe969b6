"""theory: exact and certified SubsetSum, epsilon-perturbed SubsetSum, and the SLTH bounds ledger."""
