"""``python -m reverse_anything`` = the ``reverse-anything`` command."""
import sys

from .launch import main

sys.exit(main())
