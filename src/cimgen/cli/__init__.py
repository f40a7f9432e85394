"""The ``cimgen`` command line: parsing only; the work is done by library functions."""
