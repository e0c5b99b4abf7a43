"""The browser page: the files of ``static/``, answered as plain HTTP on the same port.

The files are read once, when the server starts; ``/`` is ``index.html``. Anything else
that is not a WebSocket upgrade gets 404, and methods other than GET and HEAD get 405.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rawsock import HTTPResponse, Request

__all__ = ["STATIC_DIRECTORY", "StaticSite"]

STATIC_DIRECTORY = Path(__file__).with_name("static")

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The page loads nothing from elsewhere, and no other site may frame it.
_HEADERS = [
    ("Cache-Control", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
]


@dataclass(frozen=True)
class StaticFile:
    """One file to serve."""

    content_type: str
    body: bytes


class StaticSite:
    """A few static files by URL path."""

    def __init__(self, files: dict[str, StaticFile]) -> None:
        self.files = files

    @classmethod
    def load(cls, directory: Path = STATIC_DIRECTORY) -> StaticSite:
        """The ``.html``, ``.js`` and ``.css`` files directly in ``directory``."""
        files: dict[str, StaticFile] = {}
        for path in sorted(directory.iterdir()):
            content_type = _CONTENT_TYPES.get(path.suffix)
            if content_type is not None and path.is_file():
                files["/" + path.name] = StaticFile(content_type, path.read_bytes())
        if "/index.html" in files:
            files["/"] = files["/index.html"]
        return cls(files)

    def respond(self, request: Request) -> HTTPResponse:
        """The answer to a plain HTTP request."""
        if request.method not in ("GET", "HEAD"):
            return HTTPResponse.text(405, "Only GET and HEAD.", [("Allow", "GET, HEAD")])
        file = self.files.get(request.path)
        if file is None:
            return HTTPResponse.text(404, "Not found.")
        return HTTPResponse(200, [("Content-Type", file.content_type), *_HEADERS], file.body)
