"""Servers the object-storage tests start on 127.0.0.1: an S3-compatible store (moto's server
mode, with a request log and injected faults) and a static HTTP(S) server honouring Range."""

from __future__ import annotations

import functools
import http.server
import logging
import os
import re
import threading
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

logging.getLogger("werkzeug").setLevel(logging.ERROR)

_S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
    "</Message><RequestId>test</RequestId>{extra}</Error>"
)


class S3Server(ThreadedMotoServer):
    """moto's S3 that logs (method, path, query, Range header) per request. Buckets in
    ``denied`` answer 403 AccessDenied; a bucket in ``regions`` answers a request signed for
    another region with 301 PermanentRedirect, as AWS does."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.log: list[tuple[str, str, str, str | None]] = []
        self.denied: set[str] = set()
        self.regions: dict[str, str] = {}
        self._lock = threading.Lock()

    def _middleware(self, app: Any) -> Any:
        def handle(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            with self._lock:
                self.log.append(
                    (
                        environ["REQUEST_METHOD"],
                        path,
                        environ.get("QUERY_STRING", ""),
                        environ.get("HTTP_RANGE"),
                    )
                )
            bucket = path.lstrip("/").split("/", 1)[0]
            if bucket in self.denied:
                return _s3_error(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
            region = self.regions.get(bucket)
            if region is not None:
                auth = environ.get("HTTP_AUTHORIZATION", "")
                signed = re.search(r"Credential=[^/]+/\d+/([^/]+)/", auth)
                if signed and signed.group(1) != region:
                    return _s3_error(
                        start_response,
                        "301 Moved Permanently",
                        "PermanentRedirect",
                        "The bucket you are attempting to access must be addressed using the "
                        "specified endpoint.",
                        extra=f"<Endpoint>{bucket}.s3.{region}.amazonaws.com</Endpoint>",
                        headers=[("x-amz-bucket-region", region)],
                    )
            return app(environ, start_response)

        return handle

    def _server_entry(self) -> None:
        app = self._middleware(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def requests_since(self, start: int) -> list[tuple[str, str, str, str | None]]:
        with self._lock:
            return list(self.log[start:])


def _s3_error(
    start_response: Any, status: str, code: str, message: str, extra: str = "", headers: Any = ()
) -> Any:
    body = _S3_ERROR.format(code=code, message=message, extra=extra).encode()
    start_response(
        status,
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=a-b`` (206 Partial Content); logs (method, path, Range)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        self.server.log.append((self.command, self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404, "Not Found")
            return None
        size = os.path.getsize(path)
        spec = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip()) if spec else None
        if match is None:
            self.send_response(200)
            self._headers(size)
            return open(path, "rb")
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
        else:
            start, end = max(0, size - int(match.group(2))), size - 1
        if start >= size or start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self._headers(end - start + 1)
        with open(path, "rb") as fh:
            fh.seek(start)
            import io

            return io.BytesIO(fh.read(end - start + 1))

    def _headers(self, length: int) -> None:
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()


class HTTPServer:
    """A threading HTTP server over ``root`` on 127.0.0.1; HTTPS with an ``ssl_context``."""

    def __init__(self, root: str, ssl_context: Any = None) -> None:
        handler = functools.partial(_RangeHandler, directory=root)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.log: list[tuple[str, str, str | None]] = []
        self.httpd.log = self.log  # type: ignore[attr-defined]
        self.scheme = "http"
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
