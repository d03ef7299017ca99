"""The one exception type a user sees as a single line on stderr."""


class FstError(Exception):
    """A problem the user can fix (bad input, missing file, missing weights).

    The command-line entry point prints ``fst: error: <message>`` and exits non-zero.
    """
