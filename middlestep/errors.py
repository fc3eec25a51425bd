"""The error a command raises when it cannot go on: the CLI prints its message, exit code 1."""


class PipelineError(RuntimeError):
    """A step that cannot go on; the message says why and what to do."""
