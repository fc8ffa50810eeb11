"""Bounded decompression of HTTP bodies (Content-Encoding gzip, deflate, br).

httpx inflates a whole network chunk before the caller can count it, so a
1 MB gzip bomb could become a gigabyte in memory before any limit applied.
Here the raw bytes are decompressed with an output limit, so decoding stops
as soon as the decoded size passes the cap.
"""

from __future__ import annotations

import zlib
from typing import Protocol

try:  # brotli is optional: without it we do not ask for br.
    import brotli
except ImportError:  # pragma: no cover - brotli is a declared dependency
    brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"


class TooLarge(Exception):
    """The decoded body passed the cap."""


class DecodeError(Exception):
    """The body does not decode with its declared Content-Encoding."""


class _Decoder(Protocol):
    def feed(self, data: bytes, room: int) -> bytes: ...

    def flush(self, room: int) -> bytes: ...


class _Identity:
    def feed(self, data: bytes, room: int) -> bytes:
        if len(data) > room:
            raise TooLarge
        return data

    def flush(self, room: int) -> bytes:
        return b""


class _Zlib:
    """gzip (and zlib-wrapped or raw deflate, which servers mix up)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._obj: zlib._Decompress | None = None
        self._wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS

    def _decompressor(self, first: bytes) -> zlib._Decompress:
        if self._obj is None:
            if self.encoding == "deflate" and first[:1] and (first[0] & 0x0F) != 8:
                self._wbits = -zlib.MAX_WBITS  # raw deflate without the zlib header
            self._obj = zlib.decompressobj(self._wbits)
        return self._obj

    def feed(self, data: bytes, room: int) -> bytes:
        obj = self._decompressor(data)
        try:
            out = obj.decompress(data, room + 1)
        except zlib.error as exc:
            raise DecodeError(f"bad {self.encoding} data: {exc}") from None
        if len(out) > room or obj.unconsumed_tail:
            raise TooLarge
        return out

    def flush(self, room: int) -> bytes:
        if self._obj is None:
            return b""
        out = self._obj.flush()
        if len(out) > room:
            raise TooLarge
        return out


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._obj.process(data, output_buffer_limit=room + 1)
        except brotli.error as exc:
            raise DecodeError(f"bad br data: {exc}") from None
        if len(out) > room or not self._obj.can_accept_more_data():
            raise TooLarge
        return bytes(out)

    def flush(self, room: int) -> bytes:
        return b""


def make_decoder(content_encoding: str | None) -> _Decoder:
    """A decoder for a Content-Encoding header value (identity when absent)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) > 1:
        raise DecodeError(f"stacked content encodings are not supported: {content_encoding}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _Zlib("gzip")
    if coding == "deflate":
        return _Zlib("deflate")
    if coding == "br" and brotli is not None:
        return _Brotli()
    raise DecodeError(f"unsupported content encoding: {coding}")
