"""``python -m rawsock``: an interactive client, and ``python -m rawsock serve``: an echo server.

Client: every line read on stdin is sent as a text message; every message received is
printed on stdout (``< text``, or ``< (binary) <hex>``). End of input (Ctrl-D) or
Ctrl-C closes the connection with 1000; the close code and reason are printed on
stderr at the end. Failures are one line on stderr, exit status 1.

Server: echoes every message back; Ctrl-C or SIGTERM shuts it down gracefully (open
connections are closed with 1001).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from functools import partial
from http import HTTPStatus

import trio

from ._client import open_websocket, parse_url
from ._connection import WebSocket
from ._options import ClientOptions
from ._proxy import ProxyError
from ._server import Server, serve
from ._settings import ClientSettings
from ._unix import serve_unix
from .sansio._deflate import DEFAULT_COMPRESSION
from .sansio._errors import ConnectionClosed, HandshakeError, HandshakeRejected

__all__ = ["main"]

PROG = "python -m rawsock"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _client_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Interactive WebSocket client (or: %(prog)s serve --help).",
    )
    parser.add_argument("url", help="ws:// or wss:// URL")
    parser.add_argument(
        "-H", "--header", type=_header, action="append", default=[],
        metavar="'NAME: VALUE'", help="extra request header (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-s", "--subprotocol", action="append", default=[], metavar="NAME",
        help="subprotocol to offer (repeatable, in order of preference)",
    )  # fmt: skip
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    parser.add_argument("-k", "--insecure", action="store_true", help="skip TLS certificate checks")
    parser.add_argument("--proxy", metavar="URL", help="HTTP proxy (default: environment)")
    parser.add_argument("--no-proxy", action="store_true", help="ignore proxy variables")
    return parser


def _server_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{PROG} serve", description="WebSocket echo server.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument("--unix", metavar="PATH", help="serve on a Unix-domain socket instead")
    parser.add_argument("--certfile", help="PEM certificate chain: serve wss://")
    parser.add_argument("--keyfile", help="PEM private key (default: in --certfile)")
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    return parser


# -- client -----------------------------------------------------------------------------


def _show(message: str | bytes) -> None:
    text = message if isinstance(message, str) else "(binary) " + message.hex()
    print(f"< {text}", flush=True)


async def _print_messages(ws: WebSocket, done: trio.CancelScope) -> None:
    try:
        async for message in ws:
            _show(message)
    except ConnectionClosed:
        pass
    done.cancel()


async def _send_lines(ws: WebSocket) -> None:
    """Send stdin line by line until end of input."""
    read_line = partial(trio.to_thread.run_sync, sys.stdin.readline, abandon_on_cancel=True)
    while line := await read_line():
        try:
            await ws.send(line.rstrip("\r\n"))
        except ConnectionClosed:
            return


async def _stop_on_signal(done: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            done.cancel()


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _describe(error: Exception, url: str) -> str:
    """One line for a connection that could not be opened."""
    if isinstance(error, ProxyError):
        return f"the proxy refused the connection: {error}"
    if isinstance(error, HandshakeRejected):
        reason = _reason(error.status_code)
        body = error.body.decode("utf-8", "replace").strip().splitlines()
        detail = f": {body[0][:200]}" if body else ""
        return f"handshake rejected: HTTP {error.status_code} {reason}{detail}"
    if isinstance(error, HandshakeError):
        cause = _root_cause(error)
        extra = f" ({cause})" if cause is not error and str(cause) else ""
        return f"handshake failed: {error}{extra}"
    if isinstance(error, ValueError):
        return f"invalid URL: {error}"
    target = parse_url(url)
    return f"cannot connect to {target.host}:{target.port}: {_os_reason(error)}"


def _os_reason(error: BaseException) -> str:
    """The system's words for a failed connection (trio groups one error per address)."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno) if error.errno > 0 else str(error.strerror)
    cause = error.__cause__
    if isinstance(cause, BaseExceptionGroup):
        for inner in cause.exceptions:
            if isinstance(inner, OSError) and inner.errno:
                return _os_reason(inner)
    elif cause is not None:
        return _os_reason(cause)
    return str(error)


def _connected_url(ws: WebSocket) -> str:
    """The URL the connection is open to (after any redirects)."""
    scheme = "wss" if isinstance(ws.stream, trio.SSLStream) else "ws"
    return f"{scheme}://{ws.request_headers.get('Host', '')}{ws.path}"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


async def _client(args: argparse.Namespace) -> int:
    context = None
    if args.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    proxy: str | bool | None = args.proxy or (None if args.no_proxy else True)
    options: ClientOptions = {
        "subprotocols": args.subprotocol,
        "extra_headers": args.header,
        "ssl_context": context,
        "proxy": proxy,
        "compression": None if args.no_compression else DEFAULT_COMPRESSION,
    }
    settings = ClientSettings.from_options(options, "connect")
    try:
        ws = await open_websocket(args.url, settings)
    except (OSError, ValueError, HandshakeError) as error:
        _say(f"rawsock: {_describe(error, args.url)}")
        return 1
    chosen = f" (subprotocol {ws.subprotocol})" if ws.subprotocol else ""
    _say(f"Connected to {_connected_url(ws)}{chosen}")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_print_messages, ws, nursery.cancel_scope)
            nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
            await _send_lines(ws)
            # End of input: the closing handshake, while the replies to the last lines
            # (which the server sends before its close frame) are still printed.
            await ws.aclose()
            nursery.cancel_scope.cancel()
    finally:
        await ws.aclose()
    reason = f" {ws.close_reason}" if ws.close_reason else ""
    _say(f"Connection closed: {ws.close_code}{reason}.")
    return 0 if ws.close_code in (1000, 1001, 1005) else 1


# -- server -----------------------------------------------------------------------------


async def _echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def _server(args: argparse.Namespace) -> int:
    context = None
    if args.certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as error:
            files = args.certfile + (f" and {args.keyfile}" if args.keyfile else "")
            _say(f"rawsock: cannot load the certificate from {files}: {_ssl_reason(error)}")
            return 1
    compression = None if args.no_compression else DEFAULT_COMPRESSION
    scheme = "wss" if context else "ws"
    address = args.unix or f"{args.host}:{args.port}"
    failure: list[str] = []
    try:
        async with trio.open_nursery() as nursery:
            if args.unix:
                start = partial(serve_unix, _echo, args.unix)
                server: Server = await nursery.start(
                    partial(start, ssl_context=context, compression=compression)
                )
                where = f"{scheme}://localhost/ on {args.unix}"
            else:
                start = partial(serve, _echo, args.host, args.port)
                server = await nursery.start(
                    partial(start, ssl_context=context, compression=compression)
                )
                host = f"[{args.host}]" if ":" in args.host else args.host
                where = f"{scheme}://{host}:{server.port}/"
            _say(f"Serving on {where} (Ctrl-C stops)")
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    _say("Shutting down...")
                    await server.aclose()
                    break
    except* OSError as group:  # (from the nursery: in an exception group)
        failure.append(f"cannot serve on {address}: {_os_reason(group.exceptions[0])}")
    if failure:
        _say(f"rawsock: {failure[0]}")
        return 1
    return 0


def _ssl_reason(error: OSError | ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLError):
        return error.reason or str(error)
    return os.strerror(error.errno) if error.errno else str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        args = _server_parser().parse_args(arguments[1:])
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        return trio.run(_server, args)
    return trio.run(_client, _client_parser().parse_args(arguments))
