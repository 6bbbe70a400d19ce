"""Errors raised on bad user input.

Every error names its source (a file path, a field, an argument) and the problem, so a user can fix
the input without reading a traceback.
"""


class InputError(ValueError):
    """Bad input: ``str(err)`` is ``"<source>: <problem>"``."""

    def __init__(self, source, problem):
        self.source = str(source)
        self.problem = str(problem)
        super().__init__(f"{self.source}: {self.problem}")
