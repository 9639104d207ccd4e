"""The one exception family of atomsieve.

Every error a user can cause (bad file, bad parameter, missing key) is an
:class:`AtomsieveError` or a subclass, whose message names the input, the problem
and, where it helps, what would be accepted. The CLI prints it on one line.
"""


class AtomsieveError(Exception):
    """Base class of every error atomsieve raises on purpose."""


class DataError(AtomsieveError):
    """A structure file or dataset cannot be read, validated or written."""


class ParameterError(AtomsieveError, ValueError):
    """An argument has a value that cannot be used."""


class CacheError(AtomsieveError):
    """A cache or bank file is corrupt, stale or was made with other parameters."""
