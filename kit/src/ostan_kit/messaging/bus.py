"""The NATS connection of a service: reconnects forever and keeps its JetStream stream in place."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from ostan_kit.messaging.natsauth import inbox_prefix
from ostan_kit.runtime.metrics import NATS_DISCONNECTS, NATS_RECONNECTS

log = logging.getLogger(__name__)

# JetStream drops a message whose Nats-Msg-Id it saw within this window (seconds). Beyond it a
# republished event is a new message: consumers deduplicate by ce-id in their inbox table.
DUPLICATE_WINDOW = 120.0
DAY = 86_400.0


def connect_options(identity: str, seed_file: Path | None) -> dict:
    """How an identity connects: its nkey seed (if the bus asks for one) and its own inbox."""
    options: dict = {"inbox_prefix": inbox_prefix(identity)}
    if seed_file is not None:
        options["nkeys_seed"] = str(seed_file)
    return options


class Bus:
    def __init__(
        self,
        url: str,
        name: str,
        stream: str,
        subjects: list[str],
        *,
        identity: str | None = None,
        seed_file: Path | None = None,
        duplicate_window: float = DUPLICATE_WINDOW,
        max_age_days: float = 0,
        other_streams: list[StreamConfig] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.stream = stream
        self.subjects = subjects
        self.identity = identity or name
        self.seed_file = seed_file
        self.duplicate_window = duplicate_window
        self.max_age_days = max_age_days
        # Streams this service writes to but does not own alone (agency streams, dead letters):
        # made when missing, otherwise left as they are.
        self.other_streams = other_streams or []
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
                    **connect_options(self.identity, self.seed_file),
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
            duplicate_window=self.duplicate_window,
            max_age=self.max_age_days * DAY,
        )
        try:
            await self.js.stream_info(self.stream)
            await self.js.update_stream(config)
        except NotFoundError:
            await self.js.add_stream(config)
        for other in self.other_streams:
            await ensure_stream(self.js, other)
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

    async def publish_pipelined(self, messages: list[tuple[str, bytes, dict[str, str]]], timeout: float = 5.0) -> tuple[int, str]:
        """Publish ``messages`` in order without waiting for each acknowledgement, then wait for
        them all: (how many from the start were stored, the first failure). Messages after a
        failure may be stored too; sent again they are dropped as duplicates (or by consumers'
        inboxes past the duplicate window)."""
        if self.js is None or not self.connected:
            raise ConnectionError("the bus is not connected")
        futures = []
        try:
            for subject, payload, headers in messages:
                futures.append(await self.js.publish_async(subject, payload, headers=headers, wait_stall=timeout))
        except Exception as error:  # stalled or disconnected: what was sent is still awaited
            failure = str(error) or type(error).__name__
        else:
            failure = ""
        stored = 0
        for future in futures:
            try:
                await asyncio.wait_for(asyncio.shield(future), timeout=timeout)
            except Exception as error:
                failure = str(error) or type(error).__name__
                break
            stored += 1
        for future in futures[stored:]:
            future.cancel()
        return stored, failure if stored < len(messages) else ""

    async def close(self) -> None:
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
        if self.client is not None and not self.client.is_closed:
            try:
                await asyncio.wait_for(self.client.drain(), timeout=5)
            except Exception:  # closing anyway
                await self.client.close()


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Make ``config``'s stream unless it exists (another service may have made it first)."""
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except Exception:  # made by someone else in between: fine if it is there now
            await js.stream_info(config.name)
