"""Image input/output, colour conversion, test-image folders and training-patch sampling."""

from .color import per_channel, rgb_to_y, rgb_to_ycbcr, rgb_uint8_to_y_uint8, ycbcr_to_rgb
from .datasets import (
    ImageFolder,
    RandomPatchSampler,
    dihedral,
    dihedral_inverse,
    list_image_files,
)
from .examples import example_images
from .io import IMAGE_SUFFIXES, READ_MODES, ImageReadError, quantize, read_image, write_image

__all__ = [
    "IMAGE_SUFFIXES",
    "READ_MODES",
    "ImageFolder",
    "ImageReadError",
    "RandomPatchSampler",
    "dihedral",
    "dihedral_inverse",
    "example_images",
    "list_image_files",
    "per_channel",
    "quantize",
    "read_image",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "rgb_uint8_to_y_uint8",
    "write_image",
    "ycbcr_to_rgb",
]
