"""The one exception family of atomsieve.

Every error a user can cause (bad file, bad parameter, missing key) is an
:class:`AtomsieveError` or a subclass, whose message names the input, the problem
and, where it helps, what would be accepted. The CLI prints it on one line.

One type per kind of failure, the same in every verb and library function:

- :class:`ParameterError`: an argument or option value, or a combination of them, that cannot be used
  (a count out of range, an unknown method or element, ``--query`` for a file that is no database);
- :class:`DataError`: an input file that is missing, unreadable or invalid, and an output name that
  cannot be written as given (it exists and overwriting was not asked for, its folder is missing, its
  suffix is not a format that is written);
- :class:`StorageError`: the file system refuses (full disk, permissions, read-only folder);
- :class:`CacheError`: a file atomsieve wrote to read back (features, bank, feature store, scaler,
  potential) is damaged, stale or was made with other parameters;
- :class:`Stopped`: a caller's ``should_stop()`` ended a long operation whose partial result would be
  wrong (see :mod:`atomsieve.progress`);
- :class:`atomsieve.active.ParentError`: the parent calculator fails on a structure.
"""


class AtomsieveError(Exception):
    """Base class of every error atomsieve raises on purpose."""


class DataError(AtomsieveError):
    """A structure file or dataset cannot be read, validated or written."""


class ParameterError(AtomsieveError, ValueError):
    """An argument has a value that cannot be used."""


class CacheError(AtomsieveError):
    """A cache or bank file is corrupt, stale or was made with other parameters."""


class Stopped(AtomsieveError):
    """A caller's ``should_stop()`` ended a long operation that has no useful partial answer."""


class StorageError(DataError):
    """A file cannot be written or read because of the file system: full disk, permissions, read-only."""


#: errno -> what went wrong, in words a user can act on (the folder is filled in).
_OS_PROBLEMS = {
    "ENOSPC": "no space left on the device holding {folder}",
    "EDQUOT": "disk quota exceeded on the device holding {folder}",
    "EFBIG": "the file grew beyond the size this system allows",
    "EACCES": "permission denied",
    "EPERM": "permission denied (operation not permitted)",
    "EROFS": "{folder} is on a read-only file system",
    "ENOENT": "no such file or folder",
    "ENOTDIR": "a part of the path is not a folder",
    "EISDIR": "is a folder",
    "EIO": "input/output error on the device holding {folder}",
    "ENAMETOOLONG": "the name is too long",
}

#: Messages of errors that are not OSError (SQLite for ``.db`` files) -> the errno they mean.
_MESSAGE_ERRNOS = {"database or disk is full": "ENOSPC", "disk i/o error": "EIO",
                   "attempt to write a readonly database": "EROFS"}


def os_problem(exc: BaseException, folder) -> str | None:
    """Words for the file-system fault behind ``exc`` (or its cause), or None when it is not one.

    Examples
    --------
    >>> import errno
    >>> os_problem(OSError(errno.ENOSPC, "No space left on device"), "/data")
    'no space left on the device holding /data'
    >>> os_problem(ValueError("bad"), "/data") is None
    True
    """
    import errno as errno_module

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = None
        if isinstance(exc, OSError) and exc.errno is not None:
            name = errno_module.errorcode.get(exc.errno)
        if name is None:
            text = str(exc).lower()
            name = next((n for m, n in _MESSAGE_ERRNOS.items() if m in text), None)
        if name in _OS_PROBLEMS:
            return _OS_PROBLEMS[name].format(folder=folder)
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror[0].lower() + exc.strerror[1:]
        exc = exc.__cause__ or exc.__context__
    return None


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: the file it names and what went wrong.

    Examples
    --------
    >>> import errno
    >>> describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/data/a.xyz"))
    '/data/a.xyz: permission denied'
    """
    import os

    name = exc.filename
    folder = os.path.dirname(os.path.abspath(name)) if isinstance(name, str) else "the working folder"
    problem = os_problem(exc, folder) or str(exc)
    return f"{name}: {problem}" if name is not None else problem


class AtomsieveWarning(UserWarning):
    """Base class of the warnings atomsieve gives on purpose; the CLI prints them on one line."""


class PartialLabelsWarning(AtomsieveWarning):
    """Some structures carry energies or forces and others do not, so those labels are not used."""
