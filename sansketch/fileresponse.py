"""``FileResponse``: a file from disk, with validators, conditionals and ranges.

The file is opened and ``fstat``-ed once, so the validators, the length and
the bytes sent all describe the same file. The body goes out through
``channel.sendfile``: the driver picks ``sendfile(2)`` or reads in pieces.

Conditional requests follow the evaluation order of RFC 9110 §13.2.2:
``If-Match`` / ``If-Unmodified-Since`` (412), ``If-None-Match`` /
``If-Modified-Since`` (304 for GET and HEAD), then ``Range`` guarded by
``If-Range``. A single byte range gives 206 with ``Content-Range``; an
unsatisfiable one 416 with ``Content-Range: bytes */<size>``. A request for
several ranges is answered 200 with the whole file (RFC 9110 §14.2 lets a
server ignore ``Range``); so is a syntactically invalid ``Range``.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .response import LooseHeaders, StreamResponse

if TYPE_CHECKING:
    from .request import Request

__all__ = ["FileResponse"]

# Compressed files are served as what they are, never as Content-Encoding:
# a client would otherwise unpack a download it asked for packed.
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


def _parse_http_date(value: str | None) -> int | None:
    """Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7), else None."""
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list names ``etag``.

    RFC 9110 §8.8.3.2: weak comparison ignores ``W/``; strong comparison
    never matches a weak tag.
    """
    if header.strip() == "*":
        return True
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            if not weak:
                continue
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """The single byte range ``header`` asks for, inclusive.

    Returns:
        ``(first, last)`` for one satisfiable range; ``None`` to ignore the
        header (invalid syntax, another unit, several ranges); ``False`` when
        no requested range is satisfiable (416).
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [piece.strip() for piece in spec.split(",") if piece.strip()]
    if len(specs) != 1:
        return None
    first_s, dash, last_s = specs[0].partition("-")
    if not dash:
        return None
    first_s, last_s = first_s.strip(), last_s.strip()
    if (first_s and not first_s.isdigit()) or (last_s and not last_s.isdigit()):
        return None
    if not first_s:
        if not last_s:
            return None
        # RFC 9110 §14.1.2 suffix range: the last N bytes.
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else first
    if last < first:
        return None  # invalid range-spec: the whole field is ignored
    if last_s == "":
        last = size - 1
    if first >= size:
        return False
    return first, min(last, size - 1)


class FileResponse(StreamResponse):
    """Serve a file, honouring conditional and range requests.

    Args:
        path: the file to send.
        chunk_size: a hint for drivers that read and write in pieces.
        status: the status for a full response (200 by default).
        reason: its reason phrase.
        headers: extra headers (a ``Content-Type`` here wins over the guess).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_size: int = 256 * 1024,
        status: int = 200,
        reason: str | None = None,
        headers: LooseHeaders = None,
    ) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self._path = Path(path)
        self._chunk_size = chunk_size

    async def prepare(self, request: Request) -> None:
        """Decide the status from the request, send the head and the bytes."""
        if self._prepared:
            return
        try:
            fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            await self._send_empty(request, 404)
            return
        except PermissionError:
            await self._send_empty(request, 403)
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                await self._send_empty(request, 404)
                return
            await self._send_file(request, fd, st)
        finally:
            os.close(fd)

    async def _send_empty(self, request: Request, status: int, reason: str | None = None) -> None:
        self.set_status(status, reason)
        self._headers["Content-Length"] = "0"
        await super().prepare(request)

    async def _send_file(self, request: Request, fd: int, st: os.stat_result) -> None:
        size = st.st_size
        mtime = int(st.st_mtime)
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        headers = self._headers
        headers["ETag"] = etag
        headers["Last-Modified"] = formatdate(st.st_mtime, usegmt=True)
        headers["Accept-Ranges"] = "bytes"
        method = request.method
        req = request.headers

        # RFC 9110 §13.2.2 steps 1-2: preconditions on the current state.
        if_match = req.get("If-Match")
        if if_match is not None:
            if not _etag_matches(if_match, etag, weak=False):
                await self._send_empty(request, 412)
                return
        else:
            unmodified_since = _parse_http_date(req.get("If-Unmodified-Since"))
            if unmodified_since is not None and mtime > unmodified_since:
                await self._send_empty(request, 412)
                return

        # Steps 3-4: the client's cached copy is current.
        if_none_match = req.get("If-None-Match")
        if if_none_match is not None:
            if _etag_matches(if_none_match, etag, weak=True):
                if method in ("GET", "HEAD"):
                    await self._send_not_modified(request)
                else:
                    await self._send_empty(request, 412)
                return
        elif method in ("GET", "HEAD"):
            modified_since = _parse_http_date(req.get("If-Modified-Since"))
            if modified_since is not None and mtime <= modified_since:
                await self._send_not_modified(request)
                return

        if "Content-Type" not in headers:
            headers["Content-Type"] = self._guess_type()

        offset, count = 0, size
        # Step 5 / RFC 9110 §14.2: Range is defined for GET only.
        range_header = req.get("Range")
        if (
            range_header is not None
            and method == "GET"
            and self._if_range_holds(req.get("If-Range"), etag, mtime)
        ):
            wanted = parse_range(range_header, size)
            if wanted is False:
                headers["Content-Range"] = f"bytes */{size}"
                await self._send_empty(request, 416)
                return
            if isinstance(wanted, tuple):
                first, last = wanted
                offset, count = first, last - first + 1
                self.set_status(206)
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"

        headers["Content-Length"] = str(count)
        await super().prepare(request)
        if count and method != "HEAD":
            assert self._channel is not None  # set by prepare()
            await self._channel.sendfile(fd, offset, count)

    @staticmethod
    def _if_range_holds(if_range: str | None, etag: str, mtime: int) -> bool:
        """RFC 9110 §13.1.5: honour Range only if the validator still matches
        (a strong ETag, or exactly the Last-Modified date)."""
        if if_range is None:
            return True
        if_range = if_range.strip()
        if if_range.startswith(('"', "W/")):
            return if_range == etag
        return _parse_http_date(if_range) == mtime

    async def _send_not_modified(self, request: Request) -> None:
        # RFC 9110 §15.4.5: a 304 carries the validators, no content fields.
        for name in ("Content-Length", "Content-Type", "Accept-Ranges"):
            self._headers.popall(name, None)
        self.set_status(304)
        await super().prepare(request)

    def _guess_type(self) -> str:
        ctype, encoding = mimetypes.guess_type(self._path.name)
        if encoding:
            return _ENCODING_TYPES.get(encoding, "application/octet-stream")
        return ctype or "application/octet-stream"
