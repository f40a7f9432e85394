"""Datasets: the synthetic world, paired folders and side-by-side images, label palettes."""
