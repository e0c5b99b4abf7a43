"""Local intersphinx inventories for the Python and Trio names the documentation links to.

The documentation is built without network access, so intersphinx cannot download the
``objects.inv`` files of docs.python.org and trio.readthedocs.io. This module holds the
names the rawsock documentation (its pages and the docstrings autodoc brings in) refers
to, each with its page on the real site, and writes them in Sphinx's inventory format
(version 2, read back with :mod:`sphinx.util.inventory` to check it). The links in the
built site point at the real documentation.

As a Sphinx extension it writes the inventories into the build's doctree directory when
the configuration is read and points ``intersphinx_mapping`` at them. As a script it
writes them into a directory::

    python docs/_ext/inventories.py OUTDIR

A name the documentation starts to use that is missing here fails the nitpicky build
(``sphinx-build -n``) with "reference target not found": add it to the table below.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sphinx.util.inventory import InventoryFile

PYTHON_URL = "https://docs.python.org/3/"
TRIO_URL = "https://trio.readthedocs.io/en/stable/"

#: Per project: (name, role, page). Roles are those of the ``py`` domain (or ``std``).
PYTHON: list[tuple[str, str, str]] = [
    # built-in types and exceptions
    ("object", "class", "library/functions.html"),
    ("bool", "class", "library/functions.html"),
    ("int", "class", "library/functions.html"),
    ("float", "class", "library/functions.html"),
    ("str", "class", "library/stdtypes.html"),
    ("bytes", "class", "library/stdtypes.html"),
    ("bytearray", "class", "library/stdtypes.html"),
    ("memoryview", "class", "library/stdtypes.html"),
    ("list", "class", "library/stdtypes.html"),
    ("tuple", "class", "library/stdtypes.html"),
    ("dict", "class", "library/stdtypes.html"),
    ("set", "class", "library/stdtypes.html"),
    ("frozenset", "class", "library/stdtypes.html"),
    ("type", "class", "library/functions.html"),
    ("None", "data", "library/constants.html"),
    ("NotImplemented", "data", "library/constants.html"),
    ("Exception", "exception", "library/exceptions.html"),
    ("BaseException", "exception", "library/exceptions.html"),
    ("BaseExceptionGroup", "exception", "library/exceptions.html"),
    ("KeyboardInterrupt", "exception", "library/exceptions.html"),
    ("OSError", "exception", "library/exceptions.html"),
    ("FileExistsError", "exception", "library/exceptions.html"),
    ("TypeError", "exception", "library/exceptions.html"),
    ("ValueError", "exception", "library/exceptions.html"),
    ("StopAsyncIteration", "exception", "library/exceptions.html"),
    ("UnicodeDecodeError", "exception", "library/exceptions.html"),
    # modules and their names
    ("ssl", "module", "library/ssl.html"),
    ("ssl.SSLContext", "class", "library/ssl.html"),
    ("ssl.create_default_context", "function", "library/ssl.html"),
    ("ssl.Purpose", "class", "library/ssl.html"),
    ("os.PathLike", "class", "library/os.html"),
    ("os.fspath", "function", "library/os.html"),
    ("logging", "module", "library/logging.html"),
    ("logging.Logger", "class", "library/logging.html"),
    ("logging.LoggerAdapter", "class", "library/logging.html"),
    ("logging.LogRecord", "class", "library/logging.html"),
    ("logging.Filter", "class", "library/logging.html"),
    ("logging.basicConfig", "function", "library/logging.html"),
    ("hmac.compare_digest", "function", "library/hmac.html"),
    ("zlib", "module", "library/zlib.html"),
    ("zlib.compressobj", "function", "library/zlib.html"),
    ("tracemalloc", "module", "library/tracemalloc.html"),
    ("enum.IntEnum", "class", "library/enum.html"),
    ("enum.Enum", "class", "library/enum.html"),
    ("typing.TypedDict", "class", "library/typing.html"),
    ("typing.Unpack", "data", "library/typing.html"),
    ("typing.Any", "data", "library/typing.html"),
    ("typing.Literal", "data", "library/typing.html"),
    ("typing.NamedTuple", "class", "library/typing.html"),
    ("collections.abc.AsyncIterable", "class", "library/collections.abc.html"),
    ("collections.abc.AsyncIterator", "class", "library/collections.abc.html"),
    ("collections.abc.Awaitable", "class", "library/collections.abc.html"),
    ("collections.abc.Callable", "class", "library/collections.abc.html"),
    ("collections.abc.Iterable", "class", "library/collections.abc.html"),
    ("collections.abc.Iterator", "class", "library/collections.abc.html"),
    ("collections.abc.Mapping", "class", "library/collections.abc.html"),
    ("collections.abc.MutableMapping", "class", "library/collections.abc.html"),
    ("collections.abc.Sequence", "class", "library/collections.abc.html"),
    ("contextlib.AbstractAsyncContextManager", "class", "library/contextlib.html"),
    ("types.TracebackType", "class", "library/types.html"),
    ("signal.SIGTERM", "data", "library/signal.html"),
    ("signal.SIGINT", "data", "library/signal.html"),
]

TRIO: list[tuple[str, str, str]] = [
    ("trio", "module", "reference-core.html"),
    ("trio.run", "function", "reference-core.html"),
    ("trio.sleep", "function", "reference-core.html"),
    ("trio.open_nursery", "function", "reference-core.html"),
    ("trio.Nursery", "class", "reference-core.html"),
    ("trio.Nursery.start", "method", "reference-core.html"),
    ("trio.TaskStatus", "class", "reference-core.html"),
    ("trio.CancelScope", "class", "reference-core.html"),
    ("trio.move_on_after", "function", "reference-core.html"),
    ("trio.fail_after", "function", "reference-core.html"),
    ("trio.TooSlowError", "exception", "reference-core.html"),
    ("trio.Cancelled", "exception", "reference-core.html"),
    ("trio.Event", "class", "reference-core.html"),
    ("trio.BusyResourceError", "exception", "reference-core.html"),
    ("trio.BrokenResourceError", "exception", "reference-core.html"),
    ("trio.ClosedResourceError", "exception", "reference-core.html"),
    ("trio.open_signal_receiver", "function", "reference-io.html"),
    ("trio.abc.AsyncResource", "class", "reference-io.html"),
    ("trio.abc.AsyncResource.aclose", "method", "reference-io.html"),
    ("trio.abc.Stream", "class", "reference-io.html"),
    ("trio.abc.Listener", "class", "reference-io.html"),
    ("trio.SocketStream", "class", "reference-io.html"),
    ("trio.SocketListener", "class", "reference-io.html"),
    ("trio.SSLStream", "class", "reference-io.html"),
    ("trio.SSLListener", "class", "reference-io.html"),
    ("trio.open_tcp_stream", "function", "reference-io.html"),
    ("trio.open_unix_socket", "function", "reference-io.html"),
    ("trio.open_tcp_listeners", "function", "reference-io.html"),
    ("trio.serve_listeners", "function", "reference-io.html"),
    ("trio.aclose_forcefully", "function", "reference-io.html"),
    ("trio.open_file", "function", "reference-io.html"),
    ("trio.Path", "class", "reference-io.html"),
    ("trio.testing", "module", "reference-testing.html"),
    ("trio.testing.MockClock", "class", "reference-testing.html"),
    ("trio.testing.memory_stream_pair", "function", "reference-testing.html"),
    ("trio.testing.open_stream_to_socket_listener", "function", "reference-testing.html"),
]

#: The inventories: intersphinx name -> (site, version, entries).
PROJECTS: Mapping[str, tuple[str, str, str, list[tuple[str, str, str]]]] = {
    "python": ("Python", "3", PYTHON_URL, PYTHON),
    "trio": ("Trio", "stable", TRIO_URL, TRIO),
}


def inventory_bytes(project: str, version: str, entries: list[tuple[str, str, str]]) -> bytes:
    """One inventory in Sphinx's format, version 2.

    Args:
        project: the project name in the header.
        version: its version in the header.
        entries: ``(name, role, page)``; each links to ``page#name``.

    Returns:
        The file's contents.
    """
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = "".join(
        f"{name} {'std' if role == 'label' else 'py'}:{role} 1 {page}#$ -\n"
        for name, role, page in sorted(entries)
    )
    return header.encode() + zlib.compress(lines.encode())


def write_all(directory: Path) -> dict[str, tuple[str, str]]:
    """Write every inventory into ``directory`` and check that Sphinx reads it back.

    Returns:
        The ``intersphinx_mapping`` for them: name -> (site URL, local file).

    Raises:
        ValueError: an inventory does not read back with every one of its names.
    """
    directory.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, tuple[str, str]] = {}
    for name, (project, version, url, entries) in PROJECTS.items():
        data = inventory_bytes(project, version, entries)
        loaded = InventoryFile.loads(data, uri=url)
        inventory: Any = loaded  # Sphinx 9 wraps the dict of tables, 8.2 returns it
        tables: Mapping[str, Mapping[str, object]] = getattr(inventory, "data", inventory)
        found = sum(len(items) for items in tables.values())
        if found != len(entries):
            raise ValueError(f"the {name} inventory reads back {found} of {len(entries)} names")
        path = directory / f"{name}.inv"
        path.write_bytes(data)
        mapping[name] = (url, str(path))
    return mapping


def _config_inited(app: Any, config: Any) -> None:
    config.intersphinx_mapping = write_all(Path(app.doctreedir) / "inventories")


def setup(app: Any) -> dict[str, object]:
    """Point intersphinx at local inventories, written before it reads its mapping."""
    app.connect("config-inited", _config_inited, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python docs/_ext/inventories.py OUTDIR")
    for name, (_, path) in write_all(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
