"""cimgen: controlled image manipulation with generative models, and detection of it."""

__version__ = "0.1.0"
