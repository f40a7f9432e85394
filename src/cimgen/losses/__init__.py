"""Losses as plain callables: adversarial objectives, gradient penalty, feature matching, cycle/identity, VGG perceptual."""
