"""Forensics of generated and manipulated images: patch detectors, post-processing, heatmaps, baselines."""
