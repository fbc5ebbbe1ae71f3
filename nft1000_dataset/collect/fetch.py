"""Fetching metadata and media over HTTP the way a collector must: bounded concurrency, timeouts, retries with
backoff, a per-host rate limit, a size cap, gateway fallback, and content sniffing (a gateway's HTML error page
is neither JSON nor an image).

A URL that a contract or its metadata names is untrusted: unless its host is one of the gateways the user gave
(``trusted_hosts``) or ``allow_private_hosts`` is set, it may reach only public addresses, never this machine or
its network (loopback, private, link-local such as a cloud's metadata service), checked for addresses written in
the URL, for every address a name resolves to at connection time, and at every redirect (followed by hand, at
most `MAX_REDIRECTS`)."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from nft1000_io.optional import import_extra

from ..attributes import loads_metadata
from ..media import media_extension, sniff_format
from .options import FetchOptions

aiohttp = import_extra("aiohttp", "collect", "nft1000 collect")
from aiohttp.abc import AbstractResolver, ResolveResult  # noqa: E402 (after the check that names the extra)
from aiohttp.resolver import DefaultResolver  # noqa: E402


class FetchError(Exception):
    """Nothing usable came back; ``reason`` is the short label counted in the report."""

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.retry_after = retry_after  # seconds the server asked to wait (Retry-After), if it said


MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class PrivateAddress(OSError):
    """A host that is not trusted resolved only to addresses that are not public."""


def is_public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, keeping only public addresses for hosts that are not trusted: a name whose answer
    changes between a check and the connection (DNS rebinding) still cannot reach a private address."""

    def __init__(self, trusted_hosts: frozenset[str]):
        self.inner = DefaultResolver()
        self.trusted_hosts = trusted_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if host in self.trusted_hosts:
            return results
        public = [result for result in results if is_public(result["host"])]
        if not public:
            raise PrivateAddress(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self.inner.close()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) as seconds from now, or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def parse_json(content: bytes) -> dict:
    if sniff_format(content) == "html":
        raise FetchError("html instead of json")
    try:
        value = loads_metadata(content)
    except (ValueError, RecursionError) as err:  # bad JSON or UTF-8, integers of thousands of digits, deep nesting
        raise FetchError("invalid json", str(err)[:100]) from None
    if not isinstance(value, dict):
        raise FetchError("json is not an object")
    return value


class HostLimiter:
    """At most `rate` request starts per second to each host."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_start: dict[str, float] = {}
        self.lock = asyncio.Lock()

    async def wait(self, host: str) -> None:
        async with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start.get(host, now))
            self.next_start[host] = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class Fetcher:
    """One HTTP session for a collection: ``await fetcher.get(urls, "json" | "media")``. `trusted_hosts` (the
    gateways' host names) may be private addresses; any other host must be public (see the module docstring)."""

    def __init__(self, options: FetchOptions, trusted_hosts: Sequence[str] = ()):
        self.options = options
        self.trusted_hosts = frozenset(trusted_hosts)
        self.semaphore = asyncio.Semaphore(options.concurrency)
        self.limiter = HostLimiter(options.per_host_rate)
        self.session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.jitter = random.Random()
        self.waits: list[float] = []  # every wait before a retry, in seconds

    async def __aenter__(self) -> Fetcher:
        timeout = aiohttp.ClientTimeout(total=self.options.timeout)
        connector = (
            None
            if self.options.allow_private_hosts
            else aiohttp.TCPConnector(resolver=PublicResolver(self.trusted_hosts))
        )
        self.session = aiohttp.ClientSession(
            timeout=timeout, headers={"User-Agent": "nft1000-collect"}, connector=connector
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def get(self, urls: Sequence[str], kind: str) -> tuple[str, bytes]:
        """(url, content) from the first URL that gives usable content of `kind`; else the last reason."""
        last = FetchError("no url")
        for url in urls:
            try:
                content = await self._get_one(url)
                if kind == "json":
                    parse_json(content)
                elif media_extension(content) is None:
                    raise FetchError(
                        "html instead of media" if sniff_format(content) == "html" else "unknown media type"
                    )
                return url, content
            except FetchError as err:
                last = err
        raise last

    async def _get_one(self, url: str) -> bytes:
        """One URL with retries: the server's Retry-After where it gives one (up to `max_retry_after`), else
        exponential backoff with jitter (half to all of the doubled delay), so that many clients refused at once
        do not all come back at once."""
        delay = self.options.backoff
        for attempt in range(self.options.retries + 1):
            try:
                return await self._request(url)
            except FetchError as err:
                if err.reason not in ("timeout", "connection error", "http 429", "http 5xx") or (
                    attempt == self.options.retries
                ):
                    raise
                if err.retry_after is not None and err.retry_after > self.options.max_retry_after:
                    raise FetchError(err.reason, f"{url}: Retry-After {err.retry_after:.0f} s is too long") from err
                wait = err.retry_after if err.retry_after is not None else delay * self.jitter.uniform(0.5, 1.0)
            self.waits.append(wait)
            await asyncio.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def _check_url(self, url: str) -> None:
        """Refuse schemes other than HTTP(S), and addresses written in the URL that are not public (names are
        checked by `PublicResolver` when they are resolved)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("unsupported uri scheme", url[:200])
        if self.options.allow_private_hosts or parts.hostname in self.trusted_hosts:
            return
        try:
            public = is_public(parts.hostname)
        except ValueError:
            return  # a name, not an address
        if not public:
            raise FetchError("private address", url[:200])

    async def _request(self, url: str) -> bytes:
        await self.limiter.wait(urlsplit(url).netloc)
        async with self.semaphore:
            for _ in range(MAX_REDIRECTS + 1):
                self._check_url(url)
                self.requests += 1
                try:
                    async with self.session.get(url, allow_redirects=False) as response:
                        if response.status in REDIRECTS and response.headers.get("Location"):
                            url = urljoin(url, response.headers["Location"])
                            continue
                        return await self._content(url, response)
                except TimeoutError as err:
                    raise FetchError("timeout", url) from err
                except aiohttp.ClientError as err:
                    if isinstance(err.__cause__, PrivateAddress) or isinstance(
                        getattr(err, "os_error", None), PrivateAddress
                    ):
                        raise FetchError("private address", url[:200]) from None
                    raise FetchError("connection error", f"{url}: {err}") from err
            raise FetchError("too many redirects", url[:200])

    async def _content(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        if response.status == 429 or response.status >= 500:
            reason = "http 429" if response.status == 429 else "http 5xx"
            raise FetchError(reason, url, retry_after_seconds(response.headers.get("Retry-After")))
        if response.status != 200:
            raise FetchError(f"http {response.status}", url)
        if (response.content_length or 0) > self.options.max_bytes:
            raise FetchError("too large", url)
        content = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            content += chunk
            if len(content) > self.options.max_bytes:
                raise FetchError("too large", url)
        return bytes(content)
