"""The ``reverse-anything`` command line: ``measure``, ``restore``, ``eval``, ``demo``, ``train`` and ``bench``.

A thin layer of parsers and commands over the library. Every subcommand takes the same operator
flags (``--operator cs --ratio 0.3 ...``), turned into a config for ``build_operator``. Bad input
of any kind ends with one line ``reverse-anything: error: ...`` on stderr and exit status 2;
outputs are written atomically, so a failed run never leaves a half-written file.
"""
from .main import DEBUG_VARIABLE, build_parser, main
from .operators import add_operator_arguments, operator_config, operator_factory_from_arguments, operator_for_image

__all__ = ["main", "build_parser", "DEBUG_VARIABLE", "add_operator_arguments", "operator_config", "operator_for_image",
           "operator_factory_from_arguments"]
