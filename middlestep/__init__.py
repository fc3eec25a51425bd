"""middlestep: a research warehouse for evaluating police training."""

__version__ = "0.1.0"
