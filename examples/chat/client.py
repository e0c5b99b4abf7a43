"""A terminal client for the chat: ``python -m examples.chat.client --nick ada``.

It joins ``--room`` (``lobby`` by default) once the server has welcomed the nickname.
Type a line to say it in the current room, or a command::

    /join ROOM     join a room (it becomes the current one once the server agrees)
    /switch ROOM   make a room you are in the current one
    /leave [ROOM]  leave a room (the current one by default)
    /rooms         list rooms       /members   list the current room's members
    /quit          leave the chat (end of input does too)

Exit status: 0 when you quit; 1 when it cannot connect or the server refuses the
nickname; 3 when the server closes the connection (it is stopping, or dropped this
client). The reason goes to stderr in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import trio

import rawsock

__all__ = [
    "CLOSED_BY_SERVER", "DEFAULT_ROOM", "USAGE", "ChatExit", "Terminal", "chat",
    "closed_message", "format_event", "main",
]

#: The room joined when no ``--room`` is given (the one the chat's README uses).
DEFAULT_ROOM = "lobby"
#: The exit status when the server closes the connection.
CLOSED_BY_SERVER = 3
#: What an unknown command, or a command without its argument, prints.
USAGE = "commands: /join ROOM, /switch ROOM, /leave [ROOM], /rooms, /members, /quit"


class ChatExit(Exception):
    """The chat ends other than by the user quitting: ``message`` for stderr, ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def format_event(event: dict[str, Any]) -> str:
    """One server message as a line of text."""
    kind = event.get("type")
    if kind == "message":
        return f"[{event['room']}] {event['nick']}: {event['text']}"
    if kind == "presence":
        verb = "joined" if event["event"] == "join" else "left"
        return f"[{event['room']}] * {event['nick']} {verb}"
    if kind == "joined":
        return f"[{event['room']}] * you joined; members: {', '.join(event['members'])}"
    if kind == "left":
        return f"[{event['room']}] * you left"
    if kind == "welcome":
        return f"* welcome, {event['nick']}; rooms: {_rooms(event['rooms'])}"
    if kind == "rooms":
        return f"* rooms: {_rooms(event['rooms'])}"
    if kind == "members":
        return f"[{event['room']}] * members: {', '.join(event['members'])}"
    if kind == "error":
        return f"! {event['message']}"
    return f"? {event}"


def _rooms(rooms: dict[str, int]) -> str:
    return ", ".join(f"{name} ({count})" for name, count in rooms.items()) or "none yet"


def closed_message(code: int, reason: str) -> str:
    """The line saying the server closed the connection, with its close code and reason."""
    return f"the server closed the connection ({f'{code} {reason}'.strip()})"


async def _lines(stream: trio.abc.ReceiveStream) -> AsyncIterator[str]:
    """Lines of text from ``stream`` (stdin), without their line ends."""
    buffer = b""
    while data := await stream.receive_some(4096):
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace").rstrip("\r")
    if buffer:
        yield buffer.decode(errors="replace")


class Terminal:
    """Turns typed lines into protocol messages and keeps track of the rooms.

    ``rooms`` are the rooms the server says this client is in, in the order joined;
    ``current`` is where typed text goes: the room joined last, or the one ``/switch``
    chose. Both change only on the server's replies (``joined``, ``left``), so a
    refused ``/join`` leaves the current room as it was.
    """

    def __init__(self, ws: rawsock.WebSocket) -> None:
        self.ws = ws
        self.rooms: list[str] = []
        self.current: str | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """Send one protocol message."""
        await self.ws.send(json.dumps(message))

    def received(self, event: dict[str, Any]) -> str:
        """Take note of one server message; returns the line to show for it."""
        kind, room = event.get("type"), event.get("room")
        if kind == "joined" and isinstance(room, str):
            self.rooms.append(room)
            self.current = room
        elif kind == "left" and room in self.rooms:
            self.rooms.remove(room)
            if self.current == room:
                self.current = self.rooms[-1] if self.rooms else None
        return format_event(event)

    async def typed(self, line: str) -> bool:
        """Act on one typed line; False once the user quits."""
        text = line.strip()
        if not text.startswith("/"):
            if text:
                await self._say(line)
            return True
        command, _, argument = text.partition(" ")
        argument = argument.strip()
        if command == "/quit":
            return False
        if command == "/join" and argument:
            await self.send({"type": "join", "room": argument})
        elif command == "/switch" and argument:
            self._switch(argument)
        elif command == "/leave" and (argument or self.current):
            await self.send({"type": "leave", "room": argument or self.current})
        elif command == "/rooms":
            await self.send({"type": "rooms"})
        elif command == "/members" and self.current:
            await self.send({"type": "members", "room": self.current})
        elif command in ("/leave", "/members"):
            print("! /join a room first", flush=True)
        elif command in ("/join", "/switch"):
            print(f"! usage: {command} ROOM", flush=True)
        else:
            print(f"! unknown command {command}; {USAGE}", flush=True)
        return True

    async def _say(self, line: str) -> None:
        """Say ``line`` in the current room."""
        if self.current is None:
            print("! /join a room first", flush=True)
        else:
            await self.send({"type": "say", "room": self.current, "text": line})

    def _switch(self, room: str) -> None:
        """Make ``room``, one this client is in, the current room."""
        if room in self.rooms:
            self.current = room
        else:
            print(f"! you are not in {room!r}: /join it first", flush=True)


async def _request(ws: rawsock.WebSocket, message: dict[str, Any]) -> dict[str, Any]:
    """Send ``message`` and return the server's next message (its reply, before the
    client is in any room: nothing else can come in between)."""
    await ws.send(json.dumps(message))
    reply: dict[str, Any] = json.loads(await ws.receive())
    return reply


async def _start(ws: rawsock.WebSocket, nick: str, room: str) -> Terminal:
    """Say hello as ``nick``, then join ``room``, showing the replies; before anything
    typed is read, so that typed text goes to ``room``.

    Raises:
        ChatExit: the server refused the nickname or closed the connection.
    """
    try:
        welcome = await _request(ws, {"type": "hello", "nick": nick})
        if welcome.get("type") != "welcome":
            raise ChatExit(f"nickname refused: {welcome.get('message', welcome)}")
        print(format_event(welcome), flush=True)
        terminal = Terminal(ws)
        print(terminal.received(await _request(ws, {"type": "join", "room": room})), flush=True)
    except rawsock.ConnectionClosed as closed:
        raise ChatExit(closed_message(closed.code, closed.reason), CLOSED_BY_SERVER) from None
    return terminal


async def chat(url: str, nick: str, room: str) -> None:
    """Connect, say hello, join ``room``, then relay stdin and the server's messages.

    Returns when the user quits; raises ChatExit when the chat ends otherwise.
    """
    async with rawsock.connect(url) as ws:
        terminal = await _start(ws, nick, room)
        quitting = False
        async with trio.open_nursery() as nursery:

            async def show() -> None:
                with contextlib.suppress(rawsock.ConnectionClosed):  # ws.close_code tells
                    async for message in ws:
                        print(terminal.received(json.loads(message)), flush=True)
                nursery.cancel_scope.cancel()

            nursery.start_soon(show)
            with contextlib.suppress(rawsock.ConnectionClosed):  # show() sees it too
                stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
                async with stdin:
                    async for line in _lines(stdin):
                        if not await terminal.typed(line):
                            break
                quitting = True
                await ws.aclose()
                nursery.cancel_scope.cancel()
        if not quitting:
            code = ws.close_code if ws.close_code is not None else 1006
            raise ChatExit(closed_message(code, ws.close_reason or ""), CLOSED_BY_SERVER)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.chat.client",
                                     description="Terminal chat client")
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws")
    parser.add_argument("--nick", required=True)
    parser.add_argument("--room", default=DEFAULT_ROOM,
                        help=f"the room to join at once (default {DEFAULT_ROOM})")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            trio.run(chat, args.url, args.nick, args.room)
        except ChatExit as error:
            print(f"chat: {error}", file=sys.stderr)
            sys.exit(error.status)
        except (OSError, rawsock.HandshakeError) as error:
            sys.exit(f"chat: {error}")


if __name__ == "__main__":
    main()
