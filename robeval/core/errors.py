"""One exception type for every user-facing failure.

The CLI turns a ``RobevalError`` into a one-line message and a non-zero exit, never a traceback.
Raise it with a sentence that says what went wrong and what to do next.
"""


class RobevalError(Exception):
    """A problem the user can fix: bad input, missing files, a folder that exists."""
