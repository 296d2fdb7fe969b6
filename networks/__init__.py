"""networks: masked layers, models, offline datasets, HVPs, ticket constructions and mask training."""
