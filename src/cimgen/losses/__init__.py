"""Losses as plain callables: adversarial objectives and feature matching."""
