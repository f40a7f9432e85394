"""Reading and writing images, label maps and checkpoints; the only place dtypes and ranges are converted."""
