"""The error a command raises when it cannot go on: the CLI prints its message, exit code 1."""

# errors by which an estimator says the data cannot support it (a bug is none of these)
DATA_FAULTS = (ValueError, KeyError, LookupError, ZeroDivisionError, IndexError)


class PipelineError(RuntimeError):
    """A step that cannot go on; the message says why and what to do."""
