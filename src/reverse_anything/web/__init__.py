"""The web page (``reverse-anything serve``, extra ``web``): upload or pick an image, choose what happened to it,
restore it with several methods, and compare them beside the truth with PSNR / SSIM as ``eval`` scores them."""
from .cases import Limits

__all__ = ["Limits", "create_app"]


def create_app(*args, **kwargs):
    """:func:`reverse_anything.web.app.create_app` (imported here lazily: Starlette is an optional dependency)."""
    from .app import create_app as create

    return create(*args, **kwargs)
