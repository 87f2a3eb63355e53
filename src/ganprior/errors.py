"""The one error type for mistakes a user can fix."""


class GanpriorError(ValueError):
    """A user-caused problem (bad file, unknown name, wrong shape ...).

    The message says what is wrong and what to do; the CLI prints it on one line and exits with status 2.
    It is a ``ValueError``, so library callers that catch bad values keep working.
    """
