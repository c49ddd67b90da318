"""The NATS connection of a service: reconnects forever and keeps its JetStream stream in place."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from ostan_kit.runtime.metrics import NATS_DISCONNECTS, NATS_RECONNECTS

log = logging.getLogger(__name__)

# JetStream drops a message whose Nats-Msg-Id it saw within this window (seconds).
DUPLICATE_WINDOW = 120.0


class Bus:
    def __init__(self, url: str, name: str, stream: str, subjects: list[str]) -> None:
        self.url = url
        self.name = name
        self.stream = stream
        self.subjects = subjects
        self.client: Client | None = None
        self.js: JetStreamContext | None = None
        self.stream_ready = asyncio.Event()
        self._connector: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected and self.stream_ready.is_set()

    def start(self) -> None:
        """Connect in the background: the service serves (and reports NOT_SERVING) until then."""
        self._connector = asyncio.create_task(self._connect_until_done(), name="bus-connect")

    async def _connect_until_done(self) -> None:
        delay = 0.2
        while True:
            try:
                self.client = await nats.connect(
                    self.url,
                    name=self.name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                self.js = self.client.jetstream(timeout=5)
                await self._ensure_stream()
                log.info("bus connected", extra={"url": self.url, "stream": self.stream})
                return
            except Exception as error:  # the server may not be up yet: keep trying
                log.warning("bus not reachable yet", extra={"url": self.url, "error": str(error)})
                if self.client is not None and not self.client.is_closed:
                    await self.client.close()
                self.client = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _ensure_stream(self) -> None:
        assert self.js is not None
        config = StreamConfig(
            name=self.stream,
            subjects=self.subjects,
            duplicate_window=DUPLICATE_WINDOW,
        )
        try:
            await self.js.stream_info(self.stream)
            await self.js.update_stream(config)
        except NotFoundError:
            await self.js.add_stream(config)
        self.stream_ready.set()

    async def _on_error(self, error: Exception) -> None:
        log.warning("bus error", extra={"error": str(error)})

    async def _on_disconnected(self) -> None:
        NATS_DISCONNECTS.inc()
        log.warning("bus disconnected")

    async def _on_reconnected(self) -> None:
        NATS_RECONNECTS.inc()
        log.info("bus reconnected")
        try:
            await self._ensure_stream()
        except Exception as error:  # the relay retries; the health probe shows the state
            log.warning("stream check after reconnect failed", extra={"error": str(error)})

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> bool:
        """Publish to JetStream and wait for its acknowledgement; True when it was a duplicate."""
        if self.js is None or not self.connected:
            raise ConnectionError("the bus is not connected")
        ack = await self.js.publish(subject, payload, headers=headers, timeout=5)
        return bool(ack.duplicate)

    async def close(self) -> None:
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
        if self.client is not None and not self.client.is_closed:
            try:
                await asyncio.wait_for(self.client.drain(), timeout=5)
            except Exception:  # closing anyway
                await self.client.close()
