"""What the served dashboard lets a browser do with files: upload, open by path, download. No widgets.

The rules, each a plain function the app calls and the tests exercise:

- uploads are at most :func:`upload_limit` bytes (50 MB unless ``atomsieve dashboard --max-upload-mb``
  says otherwise), non-empty, with a suffix from :data:`UPLOAD_SUFFIXES` (optionally compressed), and
  never pickled or code-running content whatever their name (:func:`check_upload`; the loader
  refuses those too);
- open-by-path is confined to a data folder when one is configured (:func:`confine_path`): ``..``
  and symbolic links are resolved first, so neither leads out of it;
- download names have no folders, no leading dots and only ``A-Za-z0-9._-`` (:func:`safe_filename`);
- binding beyond loopback needs explicit websocket origins (:func:`check_bind`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from ase.io.formats import get_compression

from atomsieve.errors import DataError, ParameterError

#: Default largest upload, in bytes (stated on screen next to the upload widget).
UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024
#: Suffixes an upload may have: formats read without running code.
UPLOAD_SUFFIXES = (".extxyz", ".xyz", ".db", ".json", ".traj", ".cif", ".vasp", ".xsf", ".pdb")
#: Compressions an upload may add after its suffix (``ge.extxyz.gz``), as the loader reads them.
UPLOAD_COMPRESSIONS = ("gz", "bz2", "xz")
#: Suffixes of formats whose reading can unpickle objects or run code: refused by name.
CODE_RUNNING_SUFFIXES = (".pkl", ".pickle", ".pckl", ".npy", ".npz", ".pt", ".pth", ".joblib",
                         ".py", ".pyc", ".ipynb", ".sh", ".so", ".dll", ".exe")

_limit = {"bytes": UPLOAD_LIMIT_BYTES}


def upload_limit() -> int:
    """The upload limit in force, in bytes.

    >>> upload_limit() >= 1024
    True
    """
    return _limit["bytes"]


def set_upload_limit(max_mb: float | None) -> int:
    """Set the upload limit for this process in binary megabytes (None: the default); returns bytes.

    >>> set_upload_limit(2), set_upload_limit(None) == UPLOAD_LIMIT_BYTES
    (2097152, True)
    """
    if max_mb is None:
        _limit["bytes"] = UPLOAD_LIMIT_BYTES
        return _limit["bytes"]
    try:
        value = float(max_mb)
    except (TypeError, ValueError):
        raise ParameterError(f"--max-upload-mb {max_mb!r} is not a number; give megabytes, e.g. 50") from None
    if not value > 0 or value > 4096:
        raise ParameterError(f"--max-upload-mb {max_mb}: must be above 0 and at most 4096 (MB)")
    _limit["bytes"] = int(value * 1024 * 1024)
    return _limit["bytes"]


def human_size(n_bytes: int) -> str:
    """``52428800 -> '50 MB'`` (binary megabytes, as the limit is stated on screen).

    >>> human_size(50 * 1024 * 1024), human_size(2048)
    ('50 MB', '2 KB')
    """
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.0f} MB"
    return f"{n_bytes / 1024:.0f} KB"


def safe_filename(name: str, default: str = "file") -> str:
    """A file name without folders, leading dots or characters a shell or file system could misread.

    >>> safe_filename("../../etc/passwd"), safe_filename("my data (1).extxyz"), safe_filename("...")
    ('passwd', 'my_data_1_.extxyz', 'file')
    """
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-").rstrip("._")
    return base[:120] or default


def looks_code_running(head: bytes) -> bool:
    """Whether the first bytes of a file are a pickle stream (or ASE's pickled trajectory).

    >>> import pickle
    >>> looks_code_running(pickle.dumps({"a": 1})), looks_code_running(b"2\\nLattice=...")
    (True, False)
    """
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return b"PickleTrajectory" in head[:64]


def check_upload(filename: str, content: bytes | None) -> str:
    """Refuse an empty, oversized, wrongly named or pickled upload; return the name to store it under.

    >>> check_upload("../my set.extxyz", b"1\\nPBC\\nGe 0 0 0\\n")
    'my_set.extxyz'
    """
    if content is None or len(content) == 0:
        raise DataError(f"{filename}: the uploaded file is empty")
    if len(content) > upload_limit():
        raise DataError(f"{filename}: {human_size(len(content))} is over the upload limit of "
                        f"{human_size(upload_limit())}; open it by path instead")
    name = safe_filename(filename, default="upload.extxyz")
    inner, compression = get_compression(name)  # "ge.extxyz.gz": judged as ".extxyz", read through gzip
    if compression not in (None, *UPLOAD_COMPRESSIONS):
        compression, inner = None, name
    suffix = Path(inner).suffix.lower()
    if suffix in CODE_RUNNING_SUFFIXES or looks_code_running(bytes(content[:64])):
        raise DataError(f"{filename}: pickle-based and code-running files are refused; upload "
                        f"one of {', '.join(UPLOAD_SUFFIXES)}")
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"{filename}: uploads must end in one of {', '.join(UPLOAD_SUFFIXES)}, optionally "
                        f"followed by {' or '.join('.' + c for c in UPLOAD_COMPRESSIONS)} "
                        "(pickle-based and code-running formats are refused)")
    return name


def confine_path(path, data_dir=None) -> Path:
    """``path`` resolved (``~``, ``..`` and symbolic links), refused when it leaves ``data_dir``.

    Relative paths are taken inside ``data_dir`` when one is set.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> confine_path("train.extxyz", root) == Path(root).resolve() / "train.extxyz"
    True
    >>> confine_path("../etc/passwd", root)
    Traceback (most recent call last):
    ...
    atomsieve.errors.DataError: ../etc/passwd: outside the data folder ...
    """
    text = str(path).strip()
    if not text or "\x00" in text:
        raise DataError("no usable path given; type the path of a structure file on the server")
    candidate = Path(text).expanduser()
    if data_dir is None:
        return candidate.resolve()
    root = Path(data_dir).expanduser().resolve()
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise DataError(f"{text}: outside the data folder {root}; only files inside it can be opened")
    return resolved


def is_loopback(address: str) -> bool:
    """Whether ``address`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_bind(address: str, allow_websocket_origin: list[str] | None) -> None:
    """Refuse a non-loopback ``address`` unless websocket origins are named explicitly.

    >>> check_bind("127.0.0.1", None)
    >>> check_bind("0.0.0.0", None)
    Traceback (most recent call last):
    ...
    atomsieve.errors.ParameterError: --address 0.0.0.0 exposes the dashboard beyond this machine; ...
    """
    if not is_loopback(address) and not allow_websocket_origin:
        raise ParameterError(
            f"--address {address} exposes the dashboard beyond this machine; "
            "also pass --allow-websocket-origin HOST:PORT for the origins you trust"
        )
