"""A broker on Redis, so that chat servers in several processes or machines share rooms.

Redis keys (``prefix`` is ``chat`` by default):

- ``chat:seq:<room>``: the room's event counter (``INCR``);
- ``chat:history:<room>``: a list of the last events, each stored as ``"<seq> <json>"``;
- ``chat:members:<room>``: a hash nick -> connections in the room;
- ``chat:rooms``: a hash room -> members;
- channel ``chat:room:<room>``: each event as ``"<seq> <json>"``, to every server
  (one pattern subscription per server).

Numbering, storing and publishing an event is one Lua script, so every server sees a
room's events in the same order as its history. Room keys expire after ``ttl`` seconds
without events. Membership counts are kept by the servers: a server that dies without
its clients leaving leaves them listed (a deployment would expire them per server).
"""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
import coredis
import trio

from .broker import Deliver, Event
from .protocol import encode

__all__ = ["RedisBroker"]

_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local item = seq .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[2], item)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], item)
return seq
"""

_COUNT = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
"""


class RedisBroker:
    """Rooms shared through the Redis server at ``url`` (``redis://host:port/db``)."""

    def __init__(
        self, url: str, history_size: int, *, prefix: str = "chat", ttl: int = 86400
    ) -> None:
        self._client: coredis.Redis[str] = coredis.Redis.from_url(url, decode_responses=True)
        self._history_size = history_size
        self._prefix = prefix
        self._ttl = ttl
        self._publish = self._client.register_script(_PUBLISH)
        self._count = self._client.register_script(_COUNT)

    async def run(
        self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe to every room's channel and deliver events until cancelled."""
        channels = f"{self._prefix}:room:*"
        start = len(channels) - 1
        try:
            async with (
                self._client,
                self._client.pubsub(patterns=[channels], ignore_subscribe_messages=True) as pubsub,
            ):
                for script in (_PUBLISH, _COUNT):  # so that the first EVALSHA finds them
                    await self._client.script_load(script)
                task_status.started()
                async for message in pubsub:
                    data, channel = message["data"], message["channel"]
                    if message["type"] == "pmessage" and isinstance(data, str):
                        deliver(str(channel)[start:], _parse(data))
        except* anyio.ClosedResourceError:
            # when cancelled, coredis may try to unsubscribe on a connection it has just
            # closed; that is the end of the subscription either way
            if trio.current_effective_deadline() != -math.inf:
                raise

    async def publish(self, room: str, event: Event) -> None:
        keys = [self._key("seq", room), self._key("history", room), self._key("room", room)]
        args: list[str | int] = [encode(event), self._history_size, self._ttl]
        await self._publish(keys=keys, args=args)

    async def history(self, room: str) -> list[Event]:
        items = await self._client.lrange(self._key("history", room), 0, -1)
        return [_parse(item) for item in items]

    async def add_member(self, room: str, nick: str) -> None:
        await self._count(keys=[self._key("members", room)], args=[nick, 1])
        await self._count(keys=[f"{self._prefix}:rooms"], args=[room, 1])

    async def remove_member(self, room: str, nick: str) -> None:
        await self._count(keys=[self._key("members", room)], args=[nick, -1])
        await self._count(keys=[f"{self._prefix}:rooms"], args=[room, -1])

    async def members(self, room: str) -> list[str]:
        return sorted(await self._client.hkeys(self._key("members", room)))

    async def rooms(self) -> dict[str, int]:
        counts = await self._client.hgetall(f"{self._prefix}:rooms")
        return {room: int(count) for room, count in sorted(counts.items())}

    def _key(self, kind: str, room: str) -> str:
        return f"{self._prefix}:{kind}:{room}"


def _parse(item: str) -> dict[str, Any]:
    seq, _, data = item.partition(" ")
    event: dict[str, Any] = json.loads(data)
    event["seq"] = int(seq)
    return event
