"""``python -m examples.echo``: Ctrl-C ends it quietly, after the graceful shutdown."""

from __future__ import annotations

from example_support import Program, serve_example

import rawsock


async def test_ctrl_c_shuts_down_and_exits_0_without_a_traceback(programs: list[Program]) -> None:
    server, port = serve_example(programs, "examples.echo")
    async with rawsock.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("still there?")
        assert await ws.receive() == "still there?"
    log = server.stop()  # SIGINT, as Ctrl-C sends
    assert server.process.returncode == 0, log
    assert "shutting down" in log
    assert "Traceback" not in log, log
