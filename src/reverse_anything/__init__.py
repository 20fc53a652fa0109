"""Reverse Anything: recover images from linear measurements with Invertible Diffusion Models."""

__version__ = "0.1.0"
