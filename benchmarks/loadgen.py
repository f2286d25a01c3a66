"""A small HTTP/1.1 keep-alive load generator on asyncio streams.

httpx tops out near 600 requests/s in one process here, below what the servers under test can do, so the
client would be what gets measured. Raw streams over persistent connections are several times cheaper.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

Request = tuple[bytes, dict[str, str]]


def _wire(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> int:
        self.writer.write(data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


class Load:
    def __init__(self, url: str, path: str, connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path, self.connections = path, connections

    async def _pool(self) -> asyncio.Queue[Connection]:
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(self.connections):
            pool.put_nowait(Connection(*await asyncio.open_connection(self.host, self.port)))
        return pool

    async def closed_loop(self, reqs: Sequence[Request]) -> float:
        """Every connection sends its next request as soon as the last is answered; returns requests/s."""
        wires = iter([_wire(self.host, self.path, b, h) for b, h in reqs])
        pool = await self._pool()

        async def sender(conn: Connection) -> None:
            for data in wires:
                if (status := await conn.send(data)) != 200:
                    raise RuntimeError(f"answered {status}")

        conns = [pool.get_nowait() for _ in range(self.connections)]
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(c) for c in conns))
        return len(reqs) / (time.perf_counter() - t0)

    async def open_loop(self, reqs: Sequence[Request], rate: float) -> tuple[list[float], float]:
        """Send on a fixed schedule; latency counts from the scheduled instant. Returns latencies and the rate
        actually offered (below ``rate`` only if this client fell behind)."""
        wires = [_wire(self.host, self.path, b, h) for b, h in reqs]
        pool = await self._pool()
        latencies: list[float] = []

        async def one(at: float, data: bytes) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            conn = await pool.get()
            try:
                if (status := await conn.send(data)) != 200:
                    raise RuntimeError(f"answered {status}")
            finally:
                pool.put_nowait(conn)
            latencies.append(time.perf_counter() - at)

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(start + i / rate, d) for i, d in enumerate(wires)))
        offered = len(wires) / (time.perf_counter() - start)
        return latencies, offered
