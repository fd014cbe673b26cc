"""The one exception type the Python API raises for user errors."""


class MoeCodegenError(Exception):
    """A spec, an op or a flag the compiler refuses, with the reason in the message."""


class DiagnosedError(MoeCodegenError):
    """Raised inside a pass: becomes an error diagnostic at `op`'s location."""

    def __init__(self, message: str, op=None):
        super().__init__(message)
        self.op = op
