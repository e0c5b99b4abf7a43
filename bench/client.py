"""The benchmark's load client: plain sockets, WebSocket framing done by hand.

It is kept cheap so that the server under test is the bottleneck: every client frame is
built and masked once per measurement and then re-sent as is, the server's frames are
only parsed far enough to count complete messages (headers are read, payloads skipped),
and each echo's content is checked once per connection, not on every round trip.

One measurement at a time, each bounded in time (warm-up, timed window, hard limit) and in
count; blocking sockets carry a timeout. Two ways to run it:

    python bench/client.py --worker          # JSON lines on stdin/stdout (used by run.py)
    python bench/client.py --port P --kind ws roundtrips --size 16 --conns 1 --duration 5

The result of a measurement is a dict with ``ops`` (round trips, messages or handshakes
in the timed window), ``seconds``, ``rate`` (ops per second, or MB/s for throughput),
``client_cpu`` and ``server_cpu`` (seconds of CPU time in the window, from getrusage and
/proc/PID/stat), and for idle memory ``bytes_per_conn``.
"""

from __future__ import annotations

import argparse
import base64
import errno
import hashlib
import json
import os
import random
import resource
import select
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Seconds any blocking socket call may take.
IO_TIMEOUT = 10.0
#: Seconds a measurement may run beyond its warm-up and timed window before it fails.
OVERRUN = 30.0
#: Seconds to wait for the servers' close frames when closing connections.
CLOSE_TIMEOUT = 10.0
#: Concurrent connection attempts when opening many connections.
OPEN_CONCURRENCY = 50
RECV_SIZE = 1024 * 1024
OP_BINARY = 0x2
OP_CLOSE = 0x8
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A measurement could not be completed (server misbehaved, timed out, ...)."""


# -- process accounting ------------------------------------------------------------------


def own_cpu() -> float:
    """CPU seconds (user + system) used by this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system, all threads) used by process ``pid``; 0 if unknown."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", "rb") as file:
        stat = file.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def process_rss(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes."""
    with open(f"/proc/{pid}/status", "rb") as file:
        for line in file:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


def raise_file_limit(wanted: int = 65536) -> None:
    """Raise RLIMIT_NOFILE's soft limit towards ``wanted`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# -- WebSocket framing (client side) -------------------------------------------------------


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (RFC 6455 §5.3); done once per run."""
    size = len(payload)
    if not size:
        return b""
    keys = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")
    return masked.to_bytes(size, "little")


def frame_header(opcode: int, size: int, masked: bool) -> bytes:
    """A final frame's header (without the masking key) for a ``size``-byte payload."""
    bit = 0x80 if masked else 0
    if size < 126:
        return bytes((0x80 | opcode, bit | size))
    if size < 1 << 16:
        return bytes((0x80 | opcode, bit | 126)) + size.to_bytes(2, "big")
    return bytes((0x80 | opcode, bit | 127)) + size.to_bytes(8, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame carrying ``payload``."""
    key = os.urandom(4)
    return frame_header(opcode, len(payload), True) + key + mask(payload, key)


def server_frame(opcode: int, payload: bytes) -> bytes:
    """The unmasked frame a server sends for ``payload`` (what an echo looks like)."""
    return frame_header(opcode, len(payload), False) + payload


CLOSE_FRAME = client_frame(OP_CLOSE, (1000).to_bytes(2, "big"))


class FrameCounter:
    """Counts complete data messages in a server's byte stream without keeping payloads.

    ``feed`` returns how many messages ended in the bytes given; control frames are
    skipped, and a close frame sets ``closed``.
    """

    __slots__ = ("closed", "fin", "opcode", "pending", "remaining")

    def __init__(self) -> None:
        self.pending = b""  # an incomplete frame header
        self.remaining = 0  # payload bytes of the current frame still to come
        self.fin = False
        self.opcode = 0
        self.closed = False

    def _frame_done(self) -> int:
        if self.opcode & 0x8:
            if self.opcode == OP_CLOSE:
                self.closed = True
            return 0
        return 1 if self.fin else 0

    def feed(self, data: bytes | memoryview) -> int:
        done = 0
        pos = 0
        end = len(data)
        while True:
            remaining = self.remaining
            if remaining:
                if end - pos < remaining:
                    self.remaining = remaining - (end - pos)
                    return done
                pos += remaining
                self.remaining = 0
                done += self._frame_done()
            if pos >= end:
                return done
            if self.pending:
                data = self.pending + bytes(data[pos:end])
                self.pending = b""
                pos = 0
                end = len(data)
            if end - pos < 2:
                self.pending = bytes(data[pos:end])
                return done
            first = data[pos]
            size = data[pos + 1]
            if size & 0x80:
                raise BenchError("the server sent a masked frame")
            if size < 126:
                pos += 2
            elif size == 126:
                if end - pos < 4:
                    self.pending = bytes(data[pos:end])
                    return done
                size = int.from_bytes(data[pos + 2 : pos + 4], "big")
                pos += 4
            else:
                if end - pos < 10:
                    self.pending = bytes(data[pos:end])
                    return done
                size = int.from_bytes(data[pos + 2 : pos + 10], "big")
                pos += 10
            self.fin = bool(first & 0x80)
            self.opcode = first & 0x0F
            if size:
                self.remaining = size
            else:
                done += self._frame_done()


class ByteCounter:
    """The raw-TCP counterpart of :class:`FrameCounter`: a message is ``size`` bytes."""

    __slots__ = ("closed", "got", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.got = 0
        self.closed = False

    def feed(self, data: bytes | memoryview) -> int:
        got = self.got + len(data)
        done, self.got = divmod(got, self.size)
        return done


# -- targets and connections -------------------------------------------------------------


#: Frames built so far (masking 16 MiB in Python takes a while): (size, hash) ->
#: (payload, client frame, expected echo).
_FRAMES: dict[tuple[int, int], tuple[bytes, bytes, bytes]] = {}


class Target:
    """A server under test: address, ``kind`` ("ws" or "tcp") and process id."""

    def __init__(self, host: str, port: int, kind: str, pid: int | None = None) -> None:
        if kind not in ("ws", "tcp"):
            raise ValueError(f"unknown kind {kind!r}")
        self.host = host
        self.port = port
        self.ws = kind == "ws"
        self.pid = pid
        self.address = (host, port)

    def message(self, payload: bytes) -> tuple[bytes, bytes]:
        """What the client sends for ``payload`` and the exact bytes echoed back."""
        if not self.ws:
            return payload, payload
        key = (len(payload), hash(payload))
        if _FRAMES.get(key, (b"",))[0] != payload:
            _FRAMES[key] = (
                payload,
                client_frame(OP_BINARY, payload),
                server_frame(OP_BINARY, payload),
            )
        return _FRAMES[key][1], _FRAMES[key][2]

    def counter(self, size: int) -> FrameCounter | ByteCounter:
        return FrameCounter() if self.ws else ByteCounter(size)

    def upgrade_request(self) -> tuple[bytes, bytes]:
        """An opening handshake request with a fresh key, and the accept value expected."""
        key = base64.b64encode(os.urandom(16))
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        request = (
            b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ) % (self.host.encode(), self.port, key)
        return request, accept


def check_upgrade_response(head: bytes, accept: bytes) -> None:
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101"):
        raise BenchError(f"handshake refused: {lines[0]!r}")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept" and value.strip() == accept:
            return
    raise BenchError("handshake response without the right Sec-WebSocket-Accept")


def new_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_head(sock: socket.socket) -> bytes:
    """Read an HTTP response head; nothing may follow it before we speak."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise BenchError("connection closed during the opening handshake")
        data += chunk
        if len(data) > 65536:
            raise BenchError("handshake response too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    if rest:
        raise BenchError("unexpected bytes after the handshake response")
    return head


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, RECV_SIZE))
        if not chunk:
            raise BenchError("connection closed by the server")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def open_connection(target: Target) -> socket.socket:
    """A blocking, connected socket; for WebSocket servers, past the opening handshake."""
    sock = new_socket()
    sock.settimeout(IO_TIMEOUT)
    try:
        sock.connect(target.address)
        if target.ws:
            request, accept = target.upgrade_request()
            sock.sendall(request)
            check_upgrade_response(read_head(sock), accept)
    except BaseException:
        sock.close()
        raise
    return sock


def await_close(sock: socket.socket, deadline: float) -> None:
    """After our close frame: read until the server's close frame or EOF (bounded)."""
    counter = FrameCounter()
    while not counter.closed:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(min(left, IO_TIMEOUT))
        chunk = sock.recv(65536)
        if not chunk:
            return
        counter.feed(chunk)


def close_connection(target: Target, sock: socket.socket) -> None:
    """Close a connection with nothing in flight: closing handshake for WebSocket."""
    try:
        if target.ws:
            sock.settimeout(IO_TIMEOUT)
            sock.sendall(CLOSE_FRAME)
            await_close(sock, time.monotonic() + CLOSE_TIMEOUT)
    except OSError:
        pass
    finally:
        sock.close()


def verify_echo(sock: socket.socket, sent: bytes, expected: bytes) -> None:
    """One blocking round trip whose echo is compared byte for byte (small messages)."""
    sock.sendall(sent)
    if recv_exactly(sock, len(expected)) != expected:
        raise BenchError("the echo differs from the message sent")


_PAYLOADS: dict[int, bytes] = {}


def payload_of(size: int) -> bytes:
    """A pseudo-random payload of ``size`` bytes, the same one for every measurement."""
    if size not in _PAYLOADS:
        _PAYLOADS[size] = random.Random(size).randbytes(size)
    return _PAYLOADS[size]


class Window:
    """Brackets the timed part of a measurement: wall time and both processes' CPU."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.start = self.end = 0.0
        self.client = self.server = 0.0

    def open(self) -> None:
        self.client = -own_cpu()
        self.server = -process_cpu(self.pid)
        self.start = time.perf_counter()

    def close(self) -> None:
        self.end = time.perf_counter()
        self.client += own_cpu()
        self.server += process_cpu(self.pid)

    def result(self, ops: int, **extra: Any) -> dict[str, Any]:
        seconds = self.end - self.start
        return {
            "ops": ops,
            "seconds": seconds,
            "rate": ops / seconds if seconds > 0 else 0.0,
            "client_cpu": self.client,
            "server_cpu": self.server,
            **extra,
        }


# -- round trips ---------------------------------------------------------------------------


def roundtrips(
    target: Target, *, size: int, conns: int, warmup: float, duration: float, max_ops: int
) -> dict[str, Any]:
    """Closed-loop echo of ``size``-byte binary messages, one in flight per connection."""
    if conns == 1:
        return roundtrips_one(target, size=size, warmup=warmup, duration=duration, max_ops=max_ops)
    return roundtrips_many(
        target, size=size, conns=conns, warmup=warmup, duration=duration, max_ops=max_ops
    )


def roundtrips_one(
    target: Target, *, size: int, warmup: float, duration: float, max_ops: int
) -> dict[str, Any]:
    sent, expected = target.message(payload_of(size))
    sock = open_connection(target)
    try:
        verify_echo(sock, sent, expected)
        counter = target.counter(size)
        feed = counter.feed
        buffer = memoryview(bytearray(RECV_SIZE))
        sendall = sock.sendall
        recv_into = sock.recv_into
        clock = time.perf_counter

        def run(until: float, limit: int) -> int:
            ops = 0
            while ops < limit:
                sendall(sent)
                done = 0
                while not done:
                    got = recv_into(buffer)
                    if not got:
                        raise BenchError("connection closed by the server")
                    done = feed(buffer[:got])
                ops += 1
                if clock() >= until:
                    break
            return ops

        run(clock() + warmup, max_ops)
        window = Window(target.pid)
        window.open()
        ops = run(window.start + duration, max_ops)
        window.close()
    finally:
        close_connection(target, sock)
    return window.result(ops)


def roundtrips_many(
    target: Target, *, size: int, conns: int, warmup: float, duration: float, max_ops: int
) -> dict[str, Any]:
    sent, expected = target.message(payload_of(size))
    socks: list[socket.socket] = []
    try:
        for _ in range(conns):
            socks.append(open_connection(target))
            verify_echo(socks[-1], sent, expected)
        buffer = memoryview(bytearray(RECV_SIZE))
        poller = select.epoll()
        by_fd: dict[int, tuple[socket.socket, Callable[[memoryview], int]]] = {}
        for sock in socks:
            sock.setblocking(False)
            by_fd[sock.fileno()] = (sock, target.counter(size).feed)
            poller.register(sock.fileno(), select.EPOLLIN)
        for sock in socks:
            sock.send(sent)
        clock = time.perf_counter
        start = clock()
        hard_limit = start + warmup + duration + OVERRUN
        window = Window(target.pid)
        phase = 0  # 0: warm-up, 1: timed, 2: draining the last echoes
        ops = 0
        in_flight = conns
        while in_flight:
            events = poller.poll(1.0)
            now = clock()
            if now > hard_limit:
                raise BenchError("round trips did not finish in time")
            for fd, _ in events:
                sock, feed = by_fd[fd]
                try:
                    got = sock.recv_into(buffer)
                except BlockingIOError:
                    continue
                if not got:
                    raise BenchError("connection closed by the server")
                if feed(buffer[:got]):
                    ops += 1
                    if phase < 2:
                        if sock.send(sent) != len(sent):
                            raise BenchError("a small message did not fit the socket buffer")
                    else:
                        in_flight -= 1
            if phase == 0 and now >= start + warmup:
                phase = 1
                window.open()
                ops_before = ops
            elif phase == 1 and (now >= window.start + duration or ops - ops_before >= max_ops):
                phase = 2
                window.close()
                ops_in_window = ops - ops_before
        poller.close()
        for sock in socks:
            sock.setblocking(True)
    finally:
        for sock in socks:
            close_connection(target, sock)
    return window.result(ops_in_window)


# -- throughput ----------------------------------------------------------------------------


def exchange(
    sock: socket.socket,
    message: memoryview,
    feed: Callable[[memoryview], int],
    buffer: memoryview,
    *,
    deadline: float,
    keep: bytearray | None = None,
) -> None:
    """Send one large message while reading its echo (a raw echo streams it back at once)."""
    total = len(message)
    sent = 0
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLOUT)
    writing = True
    while True:
        progress = False
        if sent < total:
            try:
                sent += sock.send(message[sent:])
                progress = True
            except BlockingIOError:
                pass
        elif writing:
            poller.modify(sock.fileno(), select.POLLIN)
            writing = False
        try:
            got = sock.recv_into(buffer)
        except BlockingIOError:
            got = -1
        if got == 0:
            raise BenchError("connection closed by the server")
        if got > 0:
            progress = True
            if keep is not None:
                keep += buffer[:got]
            if feed(buffer[:got]):
                if sent < total:
                    raise BenchError("the echo ended before the message was sent")
                return
        if not progress:
            if time.monotonic() > deadline:
                raise BenchError("a large message was not echoed in time")
            poller.poll(1000)


def throughput(
    target: Target, *, size: int, warmup: float, duration: float, min_ops: int, max_ops: int
) -> dict[str, Any]:
    """Echo ``size``-byte binary messages on one connection, one at a time; MB/s one way."""
    sent, expected = target.message(payload_of(size))
    message = memoryview(sent)
    sock = open_connection(target)
    try:
        sock.setblocking(False)
        buffer = memoryview(bytearray(RECV_SIZE))
        clock = time.perf_counter
        start = clock()
        deadline = time.monotonic() + warmup + duration + OVERRUN
        echo = bytearray()
        exchange(sock, message, target.counter(size).feed, buffer, deadline=deadline, keep=echo)
        if echo != expected:
            raise BenchError("the echo differs from the message sent")
        del echo
        while clock() < start + warmup:
            exchange(sock, message, target.counter(size).feed, buffer, deadline=deadline)
        counter = target.counter(size)
        window = Window(target.pid)
        window.open()
        ops = 0
        while ops < max_ops and (ops < min_ops or clock() < window.start + duration):
            exchange(sock, message, counter.feed, buffer, deadline=deadline)
            ops += 1
        window.close()
        sock.setblocking(True)
    finally:
        close_connection(target, sock)
    result = window.result(ops)
    result["rate"] = ops * size / (window.end - window.start) / 1e6
    return result


# -- handshakes ------------------------------------------------------------------------------

PROBE = b"0123456789abcdef"  # the raw-TCP floor's stand-in for a handshake: one 16 B echo


def handshake_once(target: Target) -> None:
    """Open, close: the opening and closing handshakes (raw TCP: connect, 16 B echo, close)."""
    sock = new_socket()
    sock.settimeout(IO_TIMEOUT)
    try:
        sock.connect(target.address)
        if target.ws:
            request, accept = target.upgrade_request()
            sock.sendall(request)
            check_upgrade_response(read_head(sock), accept)
            sock.sendall(CLOSE_FRAME)
            await_close(sock, time.monotonic() + CLOSE_TIMEOUT)
        else:
            sock.sendall(PROBE)
            if recv_exactly(sock, len(PROBE)) != PROBE:
                raise BenchError("the echo differs from the probe sent")
    finally:
        sock.close()


def handshakes(
    target: Target, conns: int, warmup: float, duration: float, max_ops: int
) -> dict[str, Any]:
    """Connections opened and closed per second, ``conns`` at a time."""
    if conns == 1:
        clock = time.perf_counter
        until = clock() + warmup
        for _ in range(max_ops):
            handshake_once(target)
            if clock() >= until:
                break
        window = Window(target.pid)
        window.open()
        ops = 0
        until = window.start + duration
        while ops < max_ops:
            handshake_once(target)
            ops += 1
            if clock() >= until:
                break
        window.close()
        return window.result(ops)
    machine = Connector(target, conns, keep=False)
    machine.run(warmup, max_ops)
    window = Window(target.pid)
    window.open()
    ops = machine.run(duration, max_ops)
    window.close()
    machine.drain()
    return window.result(ops)


# States of a connection in the Connector.
CONNECTING, HANDSHAKE, ECHO, CLOSING = range(4)


class Connector:
    """Opens connections ``concurrency`` at a time with non-blocking sockets and epoll.

    With ``keep=False`` each connection is closed right after its opening handshake
    (closing handshake included), and a new one takes its place: the handshake rate.
    With ``keep=True`` each one does a 16 B round trip after the handshake and is then
    kept, idle, in ``kept``: the idle-connection memory test.
    """

    def __init__(self, target: Target, concurrency: int, keep: bool) -> None:
        self.target = target
        self.concurrency = concurrency
        self.keep = keep
        self.poller = select.epoll()
        self.active: dict[int, list[Any]] = {}  # fd -> [sock, state, data, accept, counter]
        self.kept: list[socket.socket] = []
        self.sent, self.expected = target.message(PROBE)

    def start_one(self) -> None:
        sock = new_socket()
        sock.setblocking(False)
        error = sock.connect_ex(self.target.address)
        if error not in (0, errno.EINPROGRESS):
            sock.close()
            raise BenchError(f"connect failed: {os.strerror(error)}")
        fd = sock.fileno()
        self.active[fd] = [sock, CONNECTING, b"", b"", None]
        self.poller.register(fd, select.EPOLLOUT)

    def finish(self, fd: int, keep: bool) -> None:
        sock = self.active.pop(fd)[0]
        self.poller.unregister(fd)
        if keep:
            sock.settimeout(IO_TIMEOUT)
            self.kept.append(sock)
        else:
            sock.close()

    def step(self, fd: int) -> bool:
        """Advance one connection; True when it is done."""
        entry = self.active[fd]
        sock, state = entry[0], entry[1]
        target = self.target
        if state == CONNECTING:
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise BenchError(f"connect failed: {os.strerror(error)}")
            if target.ws:
                request, entry[3] = target.upgrade_request()
                sock.send(request)
                entry[1] = HANDSHAKE
            else:
                sock.send(self.sent)
                entry[1] = ECHO
            self.poller.modify(fd, select.EPOLLIN)
            return False
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return False
        if state == HANDSHAKE:
            if not data:
                raise BenchError("connection closed during the opening handshake")
            entry[2] += data
            if b"\r\n\r\n" not in entry[2]:
                return False
            head, _, rest = entry[2].partition(b"\r\n\r\n")
            check_upgrade_response(head, entry[3])
            if rest:
                raise BenchError("unexpected bytes after the handshake response")
            entry[2] = b""
            if self.keep:
                sock.send(self.sent)
                entry[1] = ECHO
            else:
                sock.send(CLOSE_FRAME)
                entry[1] = CLOSING
                entry[4] = FrameCounter()
            return False
        if state == ECHO:
            if not data:
                raise BenchError("connection closed by the server")
            entry[2] += data
            if len(entry[2]) < len(self.expected):
                return False
            if entry[2] != self.expected:
                raise BenchError("the echo differs from the probe sent")
            return True
        # CLOSING: the server's close frame, or EOF, ends it
        if not data:
            return True
        entry[4].feed(data)
        return bool(entry[4].closed)

    def run(self, duration: float, max_ops: int, stop_at: int | None = None) -> int:
        """Complete connections for ``duration`` s (or ``max_ops``, or ``stop_at`` started)."""
        clock = time.perf_counter
        start = clock()
        hard_limit = start + duration + OVERRUN
        ops = 0
        started = 0
        launching = True
        while True:
            while launching and len(self.active) < self.concurrency:
                if stop_at is not None and started >= stop_at:
                    launching = False
                    break
                self.start_one()
                started += 1
            if not self.active:
                return ops
            events = self.poller.poll(1.0)
            now = clock()
            if now > hard_limit:
                raise BenchError("connections did not complete in time")
            for fd, _ in events:
                if self.step(fd):
                    self.finish(fd, self.keep)
                    ops += 1
            if stop_at is None and (now >= start + duration or ops >= max_ops):
                if self.keep:
                    launching = False
                else:
                    return ops

    def drain(self) -> None:
        """Let the connections still in progress finish (bounded), then drop the rest."""
        clock = time.perf_counter
        deadline = clock() + CLOSE_TIMEOUT
        while self.active and clock() < deadline:
            for fd, _ in self.poller.poll(0.5):
                if self.step(fd):
                    self.finish(fd, self.keep)
        for fd in list(self.active):
            self.finish(fd, False)
        self.poller.close()


def close_many(target: Target, socks: list[socket.socket]) -> None:
    """Close many idle connections: all close frames first, then the replies (bounded)."""
    if not target.ws:
        for sock in socks:
            sock.close()
        return
    poller = select.epoll()
    open_socks: dict[int, tuple[socket.socket, FrameCounter]] = {}
    for sock in socks:
        try:
            sock.sendall(CLOSE_FRAME)
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        open_socks[sock.fileno()] = (sock, FrameCounter())
        poller.register(sock.fileno(), select.EPOLLIN)
    deadline = time.monotonic() + CLOSE_TIMEOUT
    while open_socks and time.monotonic() < deadline:
        for fd, _ in poller.poll(0.5):
            sock, counter = open_socks[fd]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                counter.feed(data)
            if not data or counter.closed:
                poller.unregister(fd)
                del open_socks[fd]
                sock.close()
    for sock, _ in open_socks.values():
        sock.close()
    poller.close()


def idle_memory(target: Target, conns: int, settle: float) -> dict[str, Any]:
    """Server RSS growth per idle connection, with ``conns`` connections open at once."""
    if target.pid is None:
        raise BenchError("idle memory needs the server's process id")
    warm = Connector(target, OPEN_CONCURRENCY, keep=True)
    warm.run(IO_TIMEOUT, conns, stop_at=min(conns, 20))
    warm.drain()
    close_many(target, warm.kept)
    time.sleep(settle)
    before = process_rss(target.pid)
    machine = Connector(target, OPEN_CONCURRENCY, keep=True)
    start = time.perf_counter()
    try:
        machine.run(IO_TIMEOUT, conns, stop_at=conns)
        opened = time.perf_counter() - start
        if len(machine.kept) != conns:
            raise BenchError(f"opened {len(machine.kept)} of {conns} connections")
        time.sleep(settle)
        after = process_rss(target.pid)
    finally:
        machine.drain()
        close_many(target, machine.kept)
    return {
        "ops": conns,
        "seconds": opened,
        "rate": conns / opened if opened > 0 else 0.0,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_conn": (after - before) / conns,
    }


# -- entry points ------------------------------------------------------------------------------


def measure(request: dict[str, Any]) -> dict[str, Any]:
    """Run the measurement a request describes (see ``run.py`` for the requests sent)."""
    target = Target(request["host"], request["port"], request["kind"], request.get("pid"))
    what = request["measure"]
    warmup = float(request.get("warmup", 0.3))
    duration = float(request.get("duration", 1.0))
    max_ops = int(request.get("max_ops", 10_000_000))
    if what == "roundtrips":
        return roundtrips(
            target,
            size=request["size"],
            conns=request["conns"],
            warmup=warmup,
            duration=duration,
            max_ops=max_ops,
        )
    if what == "throughput":
        return throughput(
            target,
            size=request["size"],
            warmup=warmup,
            duration=duration,
            min_ops=int(request.get("min_ops", 2)),
            max_ops=max_ops,
        )
    if what == "handshakes":
        return handshakes(target, request["conns"], warmup, duration, max_ops)
    if what == "idle_memory":
        return idle_memory(target, request["conns"], float(request.get("settle", 0.5)))
    raise BenchError(f"unknown measurement {what!r}")


def worker() -> None:
    """Serve measurement requests, one JSON object per line, until stdin closes."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply: dict[str, Any] = {"ok": True, "result": measure(json.loads(line))}
        except Exception as error:  # reported to the runner; the worker keeps serving
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Load client of the rawsock benchmark.")
    parser.add_argument("--worker", action="store_true", help="JSON lines on stdin/stdout")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--kind", choices=("ws", "tcp"), default="ws")
    parser.add_argument("--pid", type=int, help="server process, for its CPU time and RSS")
    parser.add_argument(
        "measure", nargs="?", choices=("roundtrips", "throughput", "handshakes", "idle_memory")
    )
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    raise_file_limit()
    if args.worker:
        worker()
        return
    if args.port is None or args.measure is None:
        parser.error("give --port and a measurement, or --worker")
    request = {key: value for key, value in vars(args).items() if key != "worker"}
    print(json.dumps(measure(request), indent=2))


if __name__ == "__main__":
    main()
