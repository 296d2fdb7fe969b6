"""networks: masked layers, models, offline datasets, HVPs, ticket constructions and mask training.

Submodules are imported on demand (``from networks.layers import MaskedLinear``); importing the
package itself stays cheap and does not import torch.
"""
