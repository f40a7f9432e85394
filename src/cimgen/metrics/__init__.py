"""Image-quality metrics as small pure functions."""
