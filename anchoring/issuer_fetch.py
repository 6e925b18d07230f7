"""Loading an issuer descriptor from a file or an http(s) URL, with bounds.

A verifier may be pointed at a hostile URL: the fetch accepts only http and https, reads
at most :data:`MAX_DESCRIPTOR_BYTES`, gives up after :data:`FETCH_SECONDS` in all, and
follows a redirect only to the same scheme, host and port (a descriptor is the issuer's
word about itself: another host cannot speak for it).

    >>> from anchoring.issuer_fetch import load_descriptor
    >>> try:
    ...     load_descriptor("ftp://example.com/issuer.json")
    ... except ValueError as exc:
    ...     print(exc)
    ftp://example.com/issuer.json: only http:// and https:// URLs can be fetched
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from anchoring.issuer import DescriptorError, IssuerDescriptor, parse_descriptor

MAX_DESCRIPTOR_BYTES = 64 * 1024
FETCH_SECONDS = 10.0
_CHUNK = 8192


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only when it stays on the origin that was asked."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = urljoin(req.full_url, newurl)
        if _origin(target) != _origin(req.full_url):
            raise DescriptorError(
                f"{req.full_url}: redirected to another origin ({target}); "
                "a descriptor must be served by its issuer's own host"
            )
        return super().redirect_request(req, fp, code, msg, headers, target)


def read_bounded(stream: IO[bytes], url: str, deadline: float) -> bytes:
    """Read ``stream`` to its end, refusing more than the size bound or past ``deadline``."""
    body = b""
    while chunk := stream.read(_CHUNK):
        body += chunk
        if len(body) > MAX_DESCRIPTOR_BYTES:
            raise DescriptorError(f"{url}: larger than {MAX_DESCRIPTOR_BYTES} bytes")
        if time.monotonic() > deadline:
            raise DescriptorError(f"{url}: took longer than {FETCH_SECONDS:g} s")
    return body


def fetch_document(url: str) -> bytes:
    """The body of ``url`` (http/https only; bounded in size, time and redirects)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DescriptorError(f"{url}: only http:// and https:// URLs can be fetched")
    deadline = time.monotonic() + FETCH_SECONDS
    opener = urllib.request.build_opener(_SameOriginRedirects)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=FETCH_SECONDS) as response:
            return read_bounded(response, url, deadline)
    except urllib.error.HTTPError as exc:
        raise DescriptorError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DescriptorError(f"{url}: could not be fetched ({reason})") from None


def _decode(body: bytes, source: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DescriptorError(f"{source}: not JSON ({exc})") from None


def load_descriptor(source: str) -> IssuerDescriptor:
    """The descriptor at ``source``: an http(s) URL, or else a file path."""
    if "://" in source:
        body = fetch_document(source)
    else:
        try:
            with Path(source).open("rb") as stream:
                body = read_bounded(stream, source, time.monotonic() + FETCH_SECONDS)
        except OSError as exc:
            raise DescriptorError(f"{source}: {exc.strerror}") from None
    try:
        return parse_descriptor(_decode(body, source))
    except DescriptorError as exc:
        if str(exc).startswith(source):
            raise
        raise DescriptorError(f"{source}: {exc}") from None
