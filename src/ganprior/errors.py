"""The one error type for mistakes a user can fix."""


class GanpriorError(Exception):
    """A user-caused problem (bad file, unknown name, wrong shape ...).

    The message says what is wrong and what to do; the CLI prints it on one line and exits with status 2.
    """
