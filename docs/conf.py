"""Sphinx configuration of the rawsock documentation.

Build it (offline: the intersphinx inventories are written locally, see
``_ext/inventories.py``)::

    pip install -e '.[docs]'
    sphinx-build -W --keep-going -n -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import rawsock  # noqa: E402

project = "rawsock"
author = "the rawsock authors"
copyright = "the rawsock authors"
release = version = rawsock.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "inventories",
    "sphinxcontrib_trio",
    "conformance",
    "public_names",
    "autodoc_tweaks",
]

exclude_patterns = ["_build"]
nitpicky = True
# Private names that public signatures and docstrings mention; each is described in
# words where it appears.
nitpick_ignore = [
    # WebSocket.receive_stream() returns one: an async iterator of chunks
    ("py:class", "rawsock._receiving.MessageStream"),
    # parse_url() returns one: secure, host, port, target
    ("py:class", "rawsock._client.WebSocketURL"),
    # the types of the select_subprotocol and handle_request options, described there
    ("py:class", "SubprotocolSelector"),
    ("py:class", "RequestHook"),
    # types of the Protocol methods the Trio layer uses to read in batches
    ("py:class", "rawsock.sansio._frames.Piece"),
    ("py:class", "rawsock.sansio._close_scanner.CloseScanner"),
]
default_role = "py:obj"
primary_domain = "py"
highlight_language = "python3"

html_theme = "furo"
html_title = f"rawsock {release}"
html_static_path: list[str] = []

# -- autodoc and napoleon: the Google-style docstrings of the code -------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# -- intersphinx, offline: _ext/inventories.py writes the inventories and sets
# intersphinx_mapping to them (Python and Trio, links to their real sites).
