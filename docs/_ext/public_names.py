"""Resolve references to rawsock's private modules to the public names.

rawsock defines its public classes in private modules (``rawsock._connection``,
``rawsock.sansio._errors``...) and exports them from ``rawsock`` and ``rawsock.sansio``;
the reference documents them under those public names. Signatures that autodoc reads
from type hints name the defining module (``rawsock._connection.WebSocket``): this
extension resolves such a reference to the public name (``rawsock.WebSocket``, else
``rawsock.sansio.X``) when that is documented, so that the nitpicky build finds it.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref

import rawsock
import rawsock.sansio

_PUBLIC = (("rawsock", set(rawsock.__all__)), ("rawsock.sansio", set(rawsock.sansio.__all__)))


def public_name(target: str) -> str | None:
    """The public name for ``target``, a dotted name through a private module.

    Args:
        target: for example ``rawsock._connection.WebSocket`` or
            ``rawsock.sansio._errors.ConnectionClosed.code``, or a bare public name
            (``HandshakeError``, ``ServerHandshake.validate``) from a docstring of
            another module.

    Returns:
        ``rawsock.WebSocket`` (or ``rawsock.sansio.X``), with any attribute part kept,
        or ``None`` when ``target`` is not such a name. A name public in both packages
        (the exceptions, ``CloseCode``, ``Request``...) resolves to ``rawsock``.
    """
    parts = target.split(".")
    for module, names in _PUBLIC:
        if parts[0] in names:  # a bare public name, from a docstring in another module
            return ".".join([module, *parts])
    if parts[0] != "rawsock" or not any(part.startswith("_") for part in parts[:-1]):
        return None
    for index, part in enumerate(parts):
        if part.startswith("_") and index + 1 < len(parts):
            name, rest = parts[index + 1], parts[index + 2 :]
            for module, names in _PUBLIC:
                if name in names:
                    return ".".join([module, name, *rest])
            return None
    return None


def _missing_reference(
    app: Any, env: Any, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    public = public_name(node.get("reftarget", ""))
    if public is None:
        return None
    domain = env.get_domain("py")
    node["reftarget"] = public
    resolved: nodes.Element | None = domain.resolve_xref(
        env,
        node.get("refdoc", ""),
        app.builder,
        node.get("reftype", "obj"),
        public,
        node,
        contnode,
    )
    return resolved


def setup(app: Any) -> dict[str, object]:
    """Connect the resolver."""
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
