"""picows echo server (asyncio, Cython): defaults, 32 MiB frame limit.

picows hands over frames, not messages; the load client never fragments, so echoing each
data frame as it comes is a message echo.
"""

from __future__ import annotations

import asyncio

import _common
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif msg_type is WSMsgType.BINARY or msg_type is WSMsgType.TEXT:
            transport.send(msg_type, frame.get_payload_as_memoryview())


def listener_factory(request: WSUpgradeRequest) -> Echo:
    return Echo()


async def main(host: str, port: int) -> None:
    server = await ws_create_server(
        listener_factory, host, port, max_frame_size=_common.MAX_MESSAGE_SIZE
    )
    _common.ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.run_until_interrupted(asyncio.run, main(args.host, args.port))
