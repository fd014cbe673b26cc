"""The one exception type the Python API raises for user errors."""


class MoeCodegenError(Exception):
    """A spec, an op or a flag the compiler refuses, with the reason in the message."""
