"""``python -m cimgen`` (and ``torchrun -m cimgen``): the same command line as ``cimgen``."""

from cimgen.cli.main import entry

entry()
