"""A terminal client for the chat: ``python -m examples.chat.client --nick ada``.

Type a line to say it in the current room, or a command::

    /join ROOM     join a room (it becomes the current one)
    /switch ROOM   make a room you are in the current one
    /leave [ROOM]  leave a room (the current one by default)
    /rooms         list rooms       /members   list the current room's members
    /quit          leave the chat (end of input does too)
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

__all__ = ["format_event", "main"]


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
    """Turns typed lines into protocol messages, remembering the current room."""

    def __init__(self, ws: rawsock.WebSocket) -> None:
        self.ws = ws
        self.current: str | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def typed(self, line: str) -> bool:
        """Act on one typed line; False once the user quits."""
        command, _, argument = line.strip().partition(" ")
        argument = argument.strip()
        if command == "/quit":
            return False
        if command == "/join" and argument:
            self.current = argument
            await self.send({"type": "join", "room": argument})
        elif command == "/switch" and argument:
            self.current = argument
        elif command == "/leave":
            await self.send({"type": "leave", "room": argument or self.current})
        elif command == "/rooms":
            await self.send({"type": "rooms"})
        elif command == "/members":
            await self.send({"type": "members", "room": self.current})
        elif line.startswith("/"):
            print(__doc__, flush=True)
        elif line.strip():
            if self.current is None:
                print("! /join a room first", flush=True)
            else:
                await self.send({"type": "say", "room": self.current, "text": line})
        return True


async def chat(url: str, nick: str, room: str | None) -> None:
    """Connect, say hello, join ``room``, then relay stdin and the server's messages."""
    async with rawsock.connect(url) as ws, trio.open_nursery() as nursery:
        terminal = Terminal(ws)

        async def show() -> None:
            async for message in ws:
                print(format_event(json.loads(message)), flush=True)
            nursery.cancel_scope.cancel()

        nursery.start_soon(show)
        await terminal.send({"type": "hello", "nick": nick})
        if room:
            await terminal.typed(f"/join {room}")
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        async with stdin:
            async for line in _lines(stdin):
                if not await terminal.typed(line):
                    break
        await ws.aclose()
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.chat.client",
                                     description="Terminal chat client")
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws")
    parser.add_argument("--nick", required=True)
    parser.add_argument("--room", help="a room to join at once")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            trio.run(chat, args.url, args.nick, args.room)
        except (OSError, rawsock.HandshakeError, rawsock.ConnectionClosed) as error:
            sys.exit(f"chat: {error}")


if __name__ == "__main__":
    main()
