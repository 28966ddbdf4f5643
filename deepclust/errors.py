"""The one exception type that stages turn into a one-line error and a non-zero exit."""


class DeepclustError(Exception):
    """Bad input or a failed precondition, with a message fit to print as a single line.

    Raise it (or a subclass) for anything a user can fix: an unknown data set, a corrupt image, K >= N,
    fewer than 2 clusters, a missing upstream artifact, a non-finite loss. The message names the file,
    key or argument and what was expected.
    """


class NonFiniteLossError(DeepclustError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""
