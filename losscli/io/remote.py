"""Data where it lives: ``s3://``, ``gs://`` and ``http(s)://`` URIs as files, prefixes and globs.

Filesystems come from ``pyarrow.fs`` (S3, GCS) and, for HTTP(S), fsspec's ``HTTPFileSystem``
(aiohttp) behind Arrow's ``PyFileSystem``, so every reader sees an Arrow file: Parquet reads its
footer and then only the wanted column chunks with ranged GETs (coalesced, read ahead), CSV and
NDJSON stream. Credentials come only from the standard chains (AWS environment, config files and
profiles, ``AWS_ENDPOINT_URL``; GCP application default credentials; ``--anon`` for public
data). What travels to a Dask worker is a :class:`Location` — plain text, no secrets — never a
filesystem object (a pickled ``S3FileSystem`` carries its keys). Every URI shown to a person
goes through :func:`redact`.

Only ``re`` and ``os`` load with this module; Arrow's S3/GCS clients and fsspec load on first use.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, NamedTuple

from losscli.errors import InputError

_GLOB = re.compile(r"[*?\[]")

#: Query parameters that carry credentials or signatures (AWS SigV4 presigned URLs, GCS V4
#: signed URLs, Azure SAS, OAuth tokens): their values never reach output.
_SECRET_PARAMS = re.compile(
    r"(?i)(?<=[?&])(x-amz-(?:signature|credential|security-token)|x-goog-(?:signature|credential)"
    r"|signature|sig|token|access_token|awsaccesskeyid|googleaccessid)=[^&#\s'\"]*"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]*@")
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")

#: Seconds per connection attempt and request, and attempts per request, unless set with
#: ``LOSSCLI_REMOTE_TIMEOUT`` / ``LOSSCLI_REMOTE_ATTEMPTS``.
DEFAULT_TIMEOUT = 30.0
DEFAULT_ATTEMPTS = 3


def redact(text: str) -> str:
    """``text`` with every URL's user info and signature/credential query values masked."""

    def one(match: re.Match[str]) -> str:
        url = _USERINFO.sub(r"\1***@", match.group(0))
        return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", url)

    return _URL.sub(one, text)


class Location(NamedTuple):
    """Where one object lives, as plain text (picklable, no secrets)."""

    scheme: str  # s3 | gs | http | https
    bucket: str  # the bucket, or host[:port] for HTTP
    key: str  # the object key (HTTP: the path and query) without the leading slash
    anonymous: bool = False

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    @property
    def label(self) -> str:
        """The URI as shown to people: redacted."""
        return redact(self.uri)

    @property
    def http(self) -> bool:
        return self.scheme in ("http", "https")

    @property
    def fs_path(self) -> str:
        """The path this location's Arrow filesystem understands."""
        if self.http:
            return self.uri
        return f"{self.bucket}/{self.key}" if self.key else self.bucket


class RemoteFile(NamedTuple):
    location: Location
    size: int | None


#: What S3 and GCS accept as a bucket name, legacy names included (a name of 1-2 characters,
#: or one with a space or ``%``, would be sent to DNS and retried for seconds).
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")


def parse(uri: str, anonymous: bool = False) -> Location:
    """A URI's parts; user info in an ``s3://``/``gs://`` URI is refused (credentials come
    from the standard chains, never from the command line)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - a port that is not a number raises here, not later
    except ValueError as exc:  # "http://[::1", "https://h:port"
        raise InputError(f"not a valid URI ({exc})", file=redact(uri)) from None
    scheme = parts.scheme.lower()
    if scheme == "gcs":
        scheme = "gs"
    if scheme in ("s3", "gs"):
        if "@" in parts.netloc:
            raise InputError(
                "credentials do not belong in the URI: they come from the environment or the "
                "provider's configuration files",
                file=redact(uri),
            )
        if not parts.netloc:
            raise InputError("no bucket in the URI", file=redact(uri))
        if not _BUCKET.fullmatch(parts.netloc):
            raise InputError(
                "not a valid bucket name (3 to 255 letters, digits, '.', '-' or '_')",
                file=redact(uri),
            )
        key = uri.split("://", 1)[1][len(parts.netloc) :].lstrip("/")
        return Location(scheme, parts.netloc, key, anonymous)
    key = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return Location(scheme, parts.netloc, key, anonymous)


# -- filesystems --------------------------------------------------------------------------------
def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _aws_profile_setting(name: str) -> str | None:
    """``name`` from the active profile of the AWS config file (``AWS_CONFIG_FILE``)."""
    import configparser

    path = os.environ.get("AWS_CONFIG_FILE", os.path.expanduser("~/.aws/config"))
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    config = configparser.RawConfigParser()
    try:
        config.read(path)
    except (OSError, configparser.Error):
        return None
    section = "default" if profile == "default" else f"profile {profile}"
    if config.has_option(section, name):
        return config.get(section, name).strip() or None
    return None


def s3_endpoint() -> str | None:
    """An S3-compatible store's endpoint: ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL`` or the
    profile's ``endpoint_url`` (pyarrow reads none of them: apache/arrow#49643)."""
    return (
        os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or _aws_profile_setting("endpoint_url")
    )


def _configured_region() -> str | None:
    return (
        os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or _aws_profile_setting("region")
    )


@functools.lru_cache(maxsize=256)
def bucket_region(bucket: str) -> str | None:
    """The bucket's region as AWS reports it (one request, cached per bucket); None if unknown."""
    from pyarrow.fs import resolve_s3_region

    try:
        return str(resolve_s3_region(bucket))
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=64)
def filesystem(scheme: str, bucket: str, anonymous: bool) -> Any:
    """The Arrow filesystem serving ``scheme://bucket`` (built once per process or worker)."""
    import pyarrow.fs as pafs  # S3/GCS clients: loaded only for a remote input

    timeout = _env_number("LOSSCLI_REMOTE_TIMEOUT", DEFAULT_TIMEOUT)
    attempts = max(1, int(_env_number("LOSSCLI_REMOTE_ATTEMPTS", DEFAULT_ATTEMPTS)))
    if scheme == "s3":
        options: dict[str, Any] = {
            "connect_timeout": timeout,
            "request_timeout": timeout,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
        }
        endpoint = s3_endpoint()
        region = _configured_region()
        if endpoint:
            from urllib.parse import urlsplit

            url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            options["endpoint_override"] = url.netloc + url.path.rstrip("/")
            options["scheme"] = url.scheme or "https"
        else:
            region = bucket_region(bucket) or region  # AWS itself: ask where the bucket is
        options["region"] = region or "us-east-1"
        if anonymous:
            options["anonymous"] = True
        return pafs.S3FileSystem(**options)
    if scheme == "gs":
        import datetime

        gcs: dict[str, Any] = {
            "anonymous": anonymous,
            "retry_time_limit": datetime.timedelta(seconds=timeout * attempts),
        }
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")  # the Google clients' emulator knob
        if emulator:
            from urllib.parse import urlsplit

            url = urlsplit(emulator if "://" in emulator else f"http://{emulator}")
            gcs.update(endpoint_override=url.netloc, scheme=url.scheme, anonymous=True)
        return pafs.GcsFileSystem(**gcs)
    return _http_filesystem()


def _http_filesystem() -> Any:
    """HTTP(S) through fsspec (aiohttp): ranged GETs in 4 MiB blocks, served to Arrow."""
    import ssl

    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        from fsspec.implementations.http import HTTPFileSystem
    except ImportError:
        raise InputError(
            "reading http(s):// URLs needs fsspec and aiohttp: pip install 'losscli[http]'"
        ) from None

    class Handler(pafs.FSSpecHandler):
        """fsspec's own handler checks ``isfile`` before opening, which over HTTP is a plain
        GET (the server starts sending the whole object); opening directly costs one HEAD."""

        def open_input_file(self, path: str) -> Any:
            return pa.PythonFile(self.fs.open(path, mode="rb"), mode="r")

        def open_input_stream(self, path: str) -> Any:
            return pa.PythonFile(self.fs.open(path, mode="rb"), mode="r")

    # A context made now honours SSL_CERT_FILE / SSL_CERT_DIR as set for this run (aiohttp
    # builds its default context once, when it is imported).
    context = ssl.create_default_context()
    # LOSSCLI_REMOTE_TIMEOUT bounds each wait for the server (connecting, and each read), not
    # the whole download: a server that stops answering is an error, a large file is not.
    import aiohttp

    timeout = _env_number("LOSSCLI_REMOTE_TIMEOUT", DEFAULT_TIMEOUT)
    waits = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
    http = HTTPFileSystem(block_size=1 << 22, ssl=context, client_kwargs={"timeout": waits})
    return pafs.PyFileSystem(Handler(http))


def filesystem_of(location: Location) -> Any:
    return filesystem(location.scheme, location.bucket, location.anonymous)


# -- errors -------------------------------------------------------------------------------------
def explain(exc: BaseException, location: Location) -> InputError:
    """One line for a storage failure, naming the (redacted) URI."""
    text = str(exc)
    label = location.label
    if isinstance(exc, FileNotFoundError) or "Path does not exist" in text or "NO_SUCH_KEY" in text:
        return InputError("no such object", file=label)
    if "NO_SUCH_BUCKET" in text:
        return InputError(f"no such bucket: {location.bucket}", file=label)
    if "ACCESS_DENIED" in text or "status 403" in text or "[code 403]" in text:
        return InputError("access denied (check the credentials and the bucket policy)", file=label)
    if "status 301" in text or "PermanentRedirect" in text or "specified endpoint" in text:
        located = re.search(r"located in '([^']+)'", text)
        where = f" (the bucket is in {located.group(1)})" if located else ""
        return InputError(
            f"wrong region{where}: set AWS_REGION or the profile's region", file=label
        )
    if "curlCode: 28" in text or "timed out" in text.lower() or "timeout" in text.lower():
        return InputError("timed out after retries", file=label)
    if "NETWORK_CONNECTION" in text or "curlCode" in text or "onnection reset" in text:
        detail = re.search(r"curlCode: \d+, ([^;]+)", text)
        why = detail.group(1).strip() if detail else "network error"
        return InputError(f"connection failed after retries ({why})", file=label)
    if "support range requests" in text:
        return InputError(
            "the server does not answer HTTP range requests, which reading Parquet needs: "
            "download the file first",
            file=label,
        )
    status = re.search(r"\b(?:status|code|HTTP Error) ?:? ?([45]\d\d)\b", text)
    if status is not None:
        return InputError(http_status_text(int(status.group(1))), file=label)
    if "SSL" in text or "CERTIFICATE" in text.upper():
        return InputError(f"TLS error: {_one_line(redact(text))}", file=label)
    return InputError(f"cannot read: {_one_line(redact(text))}", file=label)


def _http_failure(location: Location) -> str:
    """Why an HTTP(S) URL cannot be read, asked once more with a HEAD request (fsspec reports
    a 403, a 500 or a redirect loop as "not found")."""
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(location.uri, method="HEAD")
    timeout = _env_number("LOSSCLI_REMOTE_TIMEOUT", DEFAULT_TIMEOUT)
    try:
        context = ssl.create_default_context() if location.scheme == "https" else None
        with urllib.request.urlopen(request, timeout=timeout, context=context):
            pass
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return f"too many redirects (HTTP {exc.code})"
        return http_status_text(exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return f"timed out (no answer within {timeout:g} s, LOSSCLI_REMOTE_TIMEOUT)"
        return f"connection failed ({_one_line(redact(str(reason)))})"
    return "cannot read: the server answers, but reading the file failed or timed out"


def http_status_text(status: int) -> str:
    """What an HTTP error status means for reading a file."""
    if status == 404 or status == 410:
        return f"no such object (HTTP {status})"
    if status in (401, 403):
        return f"access denied (HTTP {status})"
    if status >= 500:
        return f"server error (HTTP {status})"
    return f"the server refused the request (HTTP {status})"


def _one_line(text: str) -> str:
    text = re.sub(r"\s*\(Request ID: [^)]*\)", "", text)
    return " ".join(text.split())


# -- expansion ----------------------------------------------------------------------------------
def expand(uri: str, anonymous: bool = False) -> list[RemoteFile]:
    """A URI as objects in name order, like a local path: an object is itself; a prefix is
    the Parquet dataset under it (hidden ``_``/``.`` names skipped); a glob (``*``, ``?``,
    ``[...]``; ``**`` crosses ``/``) is its matches. HTTP(S) URLs name single files."""
    import pyarrow.fs as pafs

    location = parse(uri, anonymous)
    try:
        fs = filesystem_of(location)
        if location.http:
            info = fs.get_file_info(location.fs_path)
            if info.type != pafs.FileType.File:  # fsspec says "not found" for any failure
                raise InputError(_http_failure(location), file=location.label)
            return [RemoteFile(location, info.size)]
        if _GLOB.search(location.key):
            fixed = _GLOB.split(location.key, 1)[0]
            base = fixed.rsplit("/", 1)[0] if "/" in fixed else ""
            selector = pafs.FileSelector(f"{location.bucket}/{base}".rstrip("/"), recursive=True)
            pattern = _glob_regex(f"{location.bucket}/{location.key}")
            found = [
                i
                for i in fs.get_file_info(selector)
                if i.type == pafs.FileType.File and pattern.fullmatch(i.path)
            ]
            if not found:
                _check_bucket(fs, location)
                raise InputError("no object matches this pattern", file=location.label)
            return [_child(location, i) for i in sorted(found, key=lambda i: i.path)]
        info = fs.get_file_info(location.fs_path)
        if info.type == pafs.FileType.File:
            return [RemoteFile(location, info.size)]
        if info.type == pafs.FileType.Directory:
            root = location.fs_path.rstrip("/")
            found = [
                i
                for i in fs.get_file_info(pafs.FileSelector(root, recursive=True))
                if i.type == pafs.FileType.File and _is_dataset_file(i.path[len(root) + 1 :])
            ]
            if not found:
                raise InputError("prefix holds no .parquet files", file=location.label)
            return [_child(location, i) for i in sorted(found, key=lambda i: i.path)]
        _check_bucket(fs, location)
        raise InputError("no such object or prefix", file=location.label)
    except InputError:
        raise
    except Exception as exc:
        raise explain(exc, location) from None


def _check_bucket(fs: Any, location: Location) -> None:
    import pyarrow.fs as pafs

    if fs.get_file_info(location.bucket).type == pafs.FileType.NotFound:
        raise InputError(f"no such bucket: {location.bucket}", file=location.label)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: ``*`` and ``?`` stay inside one path segment, ``**`` crosses them."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[" and pattern.find("]", i + 2) > 0:
            end = pattern.find("]", i + 2)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body))
            out += "]"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def _is_dataset_file(relative: str) -> bool:
    parts = relative.split("/")
    if any(part.startswith(("_", ".")) for part in parts):
        return False
    return parts[-1].lower().endswith((".parquet", ".pq", ".parq"))


def _child(parent: Location, info: Any) -> RemoteFile:
    key = info.path.split("/", 1)[1] if "/" in info.path else ""
    return RemoteFile(parent._replace(key=key), info.size)


# -- opening ------------------------------------------------------------------------------------
def open_random_access(location: Location) -> Any:
    """An Arrow RandomAccessFile over the object: ranged GETs on demand (a Parquet footer, then
    the column chunks of the wanted row groups only)."""
    try:
        return filesystem_of(location).open_input_file(location.fs_path)
    except Exception as exc:
        raise explain(exc, location) from None


def open_stream(location: Location) -> Any:
    """A sequential Arrow input stream (CSV, NDJSON), read ahead by the filesystem."""
    try:
        return filesystem_of(location).open_input_stream(location.fs_path, compression=None)
    except Exception as exc:
        raise explain(exc, location) from None


def read_head(uri: str, size: int, anonymous: bool = False) -> bytes:
    """The first ``size`` bytes of an object (b"" if it cannot be read)."""
    location = parse(uri, anonymous)
    try:
        with open_stream(location) as stream:
            return bytes(stream.read(size))
    except (InputError, OSError):
        return b""


def read_all(uri: str, anonymous: bool = False) -> bytes:
    """A whole (small) object, e.g. a JSON result used as a baseline."""
    location = parse(uri, anonymous)
    try:
        with open_stream(location) as stream:
            return bytes(stream.read())
    except InputError:
        raise
    except Exception as exc:
        raise explain(exc, location) from None


# -- writing (``--reduction none -o s3://bucket/out/`` on Dask) -----------------------------------
def upload(local_path: str, uri: str) -> None:
    """Copy a finished local file to ``uri`` in one piece."""
    import shutil

    location = parse(uri)
    try:
        fs = filesystem_of(location)
        with (
            open(local_path, "rb") as src,
            fs.open_output_stream(location.fs_path, compression=None) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 22)
    except Exception as exc:
        raise explain(exc, location) from None


def listing(uri: str) -> list[str]:
    """The URIs of the objects under a prefix (empty if none, or no such prefix)."""
    import pyarrow.fs as pafs

    location = parse(uri)
    try:
        fs = filesystem_of(location)
        root = location.fs_path.rstrip("/")
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except Exception as exc:
        raise explain(exc, location) from None
    return [f"{location.scheme}://{i.path}" for i in infos if i.type == pafs.FileType.File]


def delete(uri: str) -> None:
    location = parse(uri)
    try:
        filesystem_of(location).delete_file(location.fs_path)
    except Exception as exc:
        raise explain(exc, location) from None
