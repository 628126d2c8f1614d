"""attninspect: a command-line attention inspector.

This module stays import-light: torch and transformers are imported only by the commands
that need them.
"""

__version__ = "0.1.0"
