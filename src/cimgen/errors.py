"""The one exception type that the command line reports as a single sentence."""


class CimgenError(Exception):
    """A problem with the user's input or files, stated as one sentence.

    The CLI prints the message and exits with status 2; no traceback is shown.
    """


DISK_FULL = (28, 122)
"""errno values of a full disk or an exhausted quota (ENOSPC, EDQUOT), reported as one sentence."""
