"""Subcommands of the ``ganlift`` command line, one module each (see :mod:`ganlift.cli`)."""
