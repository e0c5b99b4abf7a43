"""The chat itself: nicknames, rooms, replies, and delivery of room events to clients.

Every message to a client, replies and room events alike, goes through one
:class:`rawsock.Broadcaster`, so each client has one bounded outbox, in order, and a
client too slow to empty it is closed (1013) instead of stalling its rooms.

Joining a room must replay its history without losing or repeating an event published
meanwhile (by another process, with Redis): the room's live events are held back for the
joining client while the history is fetched, then those numbered after the history are
sent after it.
"""

from __future__ import annotations

import logging
import time

import trio

import rawsock

from .broker import Broker, Event
from .protocol import (
    ChatError,
    Command,
    Hello,
    Join,
    Leave,
    ListMembers,
    ListRooms,
    Say,
    encode,
    parse,
)
from .rate import DEFAULT_RATE, MessageRate, RateLimit

__all__ = ["MAX_ROOMS_PER_CLIENT", "ChatHub", "Client"]

logger = logging.getLogger("examples.chat")

#: Rooms one connection may be in at once.
MAX_ROOMS_PER_CLIENT = 16


class Client:
    """One connected client: its nickname, its rooms, and events held while joining."""

    def __init__(self, ws: rawsock.WebSocket, rate: MessageRate) -> None:
        self.ws = ws
        self.rate = rate
        self.nick: str | None = None
        self.rooms: set[str] = set()
        self.held: dict[str, list[Event]] = {}  # room -> events that arrived while joining
        self.scope = trio.CancelScope()  # cancelled when the outbox gives up on this client


class ChatHub:
    """The clients connected to this process, and what they do."""

    def __init__(
        self,
        broker: Broker,
        outbox: rawsock.Broadcaster,
        name: str,
        rate_limit: RateLimit = DEFAULT_RATE,
    ) -> None:
        self.broker = broker
        self.rate_limit = rate_limit
        self.name = name  # which server process this is, told to clients in "welcome"
        self.outbox = outbox
        self.nicks: dict[str, Client] = {}  # nicknames are unique within a process
        self.local_rooms: dict[str, set[Client]] = {}  # members connected here
        self.clients: dict[rawsock.WebSocket, Client] = {}

    def deliver(self, room: str, event: Event) -> None:
        """Pass one room event (from the broker) to this process's members of the room."""
        ready = []
        for client in self.local_rooms.get(room, ()):
            held = client.held.get(room)
            if held is None:
                ready.append(client.ws)
            else:
                held.append(event)
        if ready:
            self._queue(encode(event), ready)

    def reply(self, client: Client, event: Event) -> None:
        """Queue a message for one client, in order with its room events."""
        self._queue(encode(event), [client.ws])

    def _queue(self, message: str, connections: list[rawsock.WebSocket]) -> None:
        """Queue ``message``; clients whose outbox overflowed are closed and leave now."""
        for ws in self.outbox.send(message, to=connections).closed:
            client = self.clients.get(ws)
            if client is not None:
                client.scope.cancel()  # its task stops reading and leaves its rooms

    async def serve(self, ws: rawsock.WebSocket) -> None:
        """Run one client's connection until it closes."""
        client = self.clients[ws] = Client(ws, MessageRate(self.rate_limit, trio.current_time()))
        self.outbox.add(ws)
        try:
            with client.scope:
                async for message in ws:
                    try:
                        await self.execute(client, message)
                    except ChatError as error:
                        self.reply(client, error.event())
        finally:
            del self.clients[ws]
            with trio.move_on_after(5) as cleanup:
                cleanup.shield = True
                await self.disconnect(client)

    async def execute(self, client: Client, message: str | bytes) -> None:
        """Carry out one client message.

        Raises:
            ChatError: what the client gets as an error message.
        """
        if not client.rate.allow(trio.current_time()):
            limit = self.rate_limit
            raise ChatError(
                "too-fast",
                f"slow down: at most {limit.per_second:g} messages per second "
                f"(bursts of {limit.burst}); this one was dropped",
            )
        command: Command = parse(message)
        if isinstance(command, Hello):
            await self._hello(client, command.nick)
            return
        if client.nick is None:
            raise ChatError("hello-first", "send hello with a nickname first")
        if isinstance(command, Join):
            await self._join(client, client.nick, command.room)
        elif isinstance(command, Leave):
            await self._leave(client, client.nick, command.room)
            self.reply(client, {"type": "left", "room": command.room})
        elif isinstance(command, Say):
            self._require_member(client, command.room)
            event = {"type": "message", "room": command.room, "nick": client.nick,
                     "text": command.text, "time": time.time()}
            await self.broker.publish(command.room, event)
        elif isinstance(command, ListRooms):
            self.reply(client, {"type": "rooms", "rooms": await self.broker.rooms()})
        elif isinstance(command, ListMembers):
            members = await self.broker.members(command.room)
            self.reply(client, {"type": "members", "room": command.room, "members": members})

    async def disconnect(self, client: Client) -> None:
        """Leave every room (telling the others) and free the nickname."""
        self.outbox.remove(client.ws)
        if client.nick is None:
            return
        for room in sorted(client.rooms):
            try:
                await self._leave(client, client.nick, room)
            except Exception:  # the broker is gone (shutting down): nothing to tell
                logger.warning("could not announce %s leaving %s", client.nick, room)
        if self.nicks.get(client.nick) is client:
            del self.nicks[client.nick]

    async def _hello(self, client: Client, nick: str) -> None:
        if client.nick is not None:
            raise ChatError("already-named", f"you are already {client.nick!r}")
        if nick in self.nicks:
            raise ChatError("nick-taken", f"{nick!r} is taken, choose another nickname")
        client.nick = nick
        self.nicks[nick] = client
        rooms = await self.broker.rooms()
        self.reply(client, {"type": "welcome", "nick": nick, "rooms": rooms, "server": self.name})

    async def _join(self, client: Client, nick: str, room: str) -> None:
        if room in client.rooms:
            raise ChatError("already-joined", f"you are already in {room!r}")
        if len(client.rooms) >= MAX_ROOMS_PER_CLIENT:
            raise ChatError("too-many-rooms", f"at most {MAX_ROOMS_PER_CLIENT} rooms at once")
        client.rooms.add(room)
        client.held[room] = []
        self.local_rooms.setdefault(room, set()).add(client)
        try:
            await self.broker.add_member(room, nick)
            await self.broker.publish(room, {"type": "presence", "room": room, "nick": nick,
                                             "event": "join", "time": time.time()})
            history = await self.broker.history(room)
            members = await self.broker.members(room)
        except BaseException:
            self._forget(client, room)
            raise
        finally:
            held = client.held.pop(room)
        last = history[-1]["seq"] if history else 0
        self.reply(client, {"type": "joined", "room": room, "members": members,
                            "history": history})
        for event in held:
            if event["seq"] > last:
                self.reply(client, event)

    async def _leave(self, client: Client, nick: str, room: str) -> None:
        self._require_member(client, room)
        self._forget(client, room)
        await self.broker.remove_member(room, nick)
        await self.broker.publish(room, {"type": "presence", "room": room, "nick": nick,
                                         "event": "leave", "time": time.time()})

    def _forget(self, client: Client, room: str) -> None:
        client.rooms.discard(room)
        local = self.local_rooms.get(room)
        if local is not None:
            local.discard(client)
            if not local:
                del self.local_rooms[room]

    def _require_member(self, client: Client, room: str) -> None:
        if room not in client.rooms:
            raise ChatError("not-in-room", f"join {room!r} first")
