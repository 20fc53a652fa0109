"""``python -m reverse_anything.cli``: the command line, for scripts that name the module.

``python -m reverse_anything`` and the ``reverse-anything`` command go through :mod:`reverse_anything.launch`
instead, which settles OpenMP's wait policy before torch loads (here torch is already loaded by this package).
"""
from .main import main

raise SystemExit(main())
