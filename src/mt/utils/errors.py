"""The one exception type for mistakes a user can fix (bad path, bad value, bad file)."""


class MTError(Exception):
    """A problem the user can fix. Entry points print its message, without a traceback, and exit 2.

    The message names the file, line, key or value at fault and says what to do.
    """
