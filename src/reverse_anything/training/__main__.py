"""``python -m reverse_anything.training`` (and ``torchrun ... -m reverse_anything.training``): ``reverse-anything train``."""
from .cli import main

raise SystemExit(main())
