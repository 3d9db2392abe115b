"""Serving a directory of files that cannot be walked out of.

Theory of operation
-------------------
The part of the path after the prefix is decoded completely (so ``%2e%2e``
and ``%2f`` become ``..`` and ``/``) and then judged as a relative path *before*
the file system is touched. Refused with 403:

* empty segments (``//``, a leading ``/``: an absolute path), ``.`` and ``..``
  segments (RFC 3986 §5.2.4 dot-segments), whatever their encoding;
* backslashes, NUL and other control characters, and ``:`` (Windows drive
  letters and alternate data streams);

Only then is the path joined to the directory. Unless ``follow_symlinks``
is set, the fully resolved path must still lie inside the resolved
directory, so a symlink pointing out is refused as well (404, like a file
that is not there: its existence outside is not revealed).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from yarl import URL

from .exceptions import HTTPForbidden, HTTPNotFound
from .response import Response, StreamResponse
from .router import Resource, _decode_param, _plain_key, _quote_part, _with_query

if TYPE_CHECKING:
    from .request import Request

__all__ = ["StaticResource", "safe_relative_parts"]

_FORBIDDEN_CHARS = frozenset("\\:\x00") | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}


def safe_relative_parts(tail: str) -> list[str] | None:
    """Split a fully decoded relative path into safe segments.

    Args:
        tail: the decoded path after the static prefix (no leading ``/``).

    Returns:
        The segments, or ``None`` if the path could leave the directory or
        names something no portable file name should contain.
    """
    if not tail:
        return []
    if not _FORBIDDEN_CHARS.isdisjoint(tail):
        return None
    parts = tail.split("/")
    if parts[-1] == "":
        # A trailing slash names a directory: "docs/" is "docs".
        parts.pop()
    for part in parts:
        if part in ("", ".", ".."):
            return None
    return parts


class StaticResource(Resource):
    """Files under ``directory`` served at ``prefix`` (GET and HEAD).

    Args:
        prefix: URL prefix without a trailing slash, e.g. ``/static``.
        directory: the directory to serve; must exist.
        name: name for ``url_for(filename=...)``.
        show_index: answer a directory with an HTML listing instead of 403.
        follow_symlinks: serve symlinks that point outside ``directory``.

    Raises:
        ValueError: ``directory`` does not exist or is not a directory.
    """

    def __init__(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        name: str | None = None,
        show_index: bool = False,
        follow_symlinks: bool = False,
    ) -> None:
        super().__init__(name=name)
        try:
            root = Path(directory).expanduser().resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"static directory {str(directory)!r} does not exist") from exc
        if not root.is_dir():
            raise ValueError(f"static path {str(directory)!r} is not a directory")
        self._root = root
        self._prefix = prefix
        self._show_index = show_index
        self._follow_symlinks = follow_symlinks
        self.add_route("GET", self._handle)
        self.add_route("HEAD", self._handle)

    @property
    def canonical(self) -> str:
        return self._prefix

    @property
    def directory(self) -> Path:
        """The resolved directory being served."""
        return self._root

    def match(self, path: str) -> Mapping[str, str] | None:
        prefix = self._prefix
        if not path.startswith(prefix) or path[len(prefix) : len(prefix) + 1] != "/":
            return None
        return {"filename": _decode_param(path[len(prefix) + 1 :])}

    def url_for(self, *, query: Any = None, **parts: str | int) -> URL:
        if set(parts) != {"filename"}:
            raise ValueError("static url_for takes exactly filename=...")
        filename = str(parts["filename"]).lstrip("/")
        if safe_relative_parts(filename) is None:
            raise ValueError(f"{filename!r} is not a file name inside the directory")
        path = quote(self._prefix, safe="/") + "/" + _quote_part(filename, allow_slash=True)
        return _with_query(URL.build(path=path, encoded=True), query)

    def _add_prefix(self, prefix: str) -> None:
        self._prefix = prefix + self._prefix

    def first_segment(self) -> str | None:
        segment = self._prefix[1:].partition("/")[0]
        return _plain_key(segment) if segment else None

    def _resolve(self, parts: list[str]) -> Path:
        """The file for ``parts``, refusing anything outside the directory."""
        candidate = self._root.joinpath(*parts)
        if self._follow_symlinks:
            # Dot-segments are already gone, so lexically this stays inside.
            return candidate
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            raise HTTPNotFound() from None
        if not resolved.is_relative_to(self._root):
            raise HTTPNotFound()
        return resolved

    async def _handle(self, request: Request) -> StreamResponse:
        """Serve the file named by ``match_info["filename"]``."""
        from .fileresponse import FileResponse

        parts = safe_relative_parts(request.match_info["filename"])
        if parts is None:
            raise HTTPForbidden()
        path = self._resolve(parts)
        try:
            if path.is_dir():
                if self._show_index:
                    return self._index(request, path)
                raise HTTPForbidden()
            if not path.is_file():
                raise HTTPNotFound()
        except OSError:
            raise HTTPNotFound() from None
        return FileResponse(path)

    def _index(self, request: Request, directory: Path) -> Response:
        base = request.rel_url.raw_path.rstrip("/")
        title = html.escape(f"Index of {request.path}")
        items = []
        for entry in sorted(directory.iterdir()):
            label = entry.name + ("/" if entry.is_dir() else "")
            href = f"{base}/{quote(entry.name, safe='')}"
            items.append(f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>')
        body = (
            f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
            f"<h1>{title}</h1><ul>{''.join(items)}</ul></body></html>"
        )
        return Response(text=body, content_type="text/html")
