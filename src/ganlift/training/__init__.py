"""Pieces of the training loop (``ganlift.train``): checkpoints and RNG state, torch.distributed
helpers, the JSONL log and progress bar, and the sample grids written while training."""
