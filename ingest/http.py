"""HTTP sources: one requests Session per back-end, with its auth, TLS, timeout and retries.

``connect(name, settings)`` gives an :class:`HttpSource` whose ``get_json`` either returns
the decoded body or raises a :class:`~korrel8.errors.SourceError` that names the source
and its URL and says what to check. Credentials (bearer token, password) go into request
headers only: never into URLs, log lines or error messages.

Retries: connection failures and HTTP 5xx are retried ``settings.retries`` times with
exponential backoff (urllib3's Retry, which also honours Retry-After). A read timeout is
not retried: a back-end too slow to answer once is usually too slow to answer again, and
retrying would multiply the wait by the retry count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from korrel8.config import HttpSourceSettings
from korrel8.errors import ConfigError, SourceAuthError, SourceError, SourceUnavailableError

__all__ = ["HttpSource", "connect", "new_session", "redact_url"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Params = dict[str, Any] | list[tuple[str, str]] | None

BACKOFF_FACTOR = 0.5  # urllib3 then waits 0s, 1s, 2s, 4s... before the retries
RETRY_STATUSES = (500, 502, 503, 504)


class BearerTokenAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``, the token from settings or read from a file.

    A file is read at every request: service-account tokens are rotated on disk.
    """

    def __init__(self, token: str | None = None, token_file: Path | None = None) -> None:
        self._token = token
        self._token_file = token_file

    def token(self) -> str:
        if self._token_file is None:
            return self._token or ""
        try:
            return self._token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the bearer token file {self._token_file}: {exc.strerror}"
            ) from None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def __repr__(self) -> str:  # never the token
        return "BearerTokenAuth(***)"


def _auth(settings: HttpSourceSettings) -> requests.auth.AuthBase | None:
    token = settings.bearer_token.get_secret_value() if settings.bearer_token else None
    if token or settings.bearer_token_file:
        return BearerTokenAuth(token, settings.bearer_token_file)
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else ""
        return requests.auth.HTTPBasicAuth(settings.username, password)
    return None


def _verify(settings: HttpSourceSettings) -> bool | str:
    if settings.ca_file is not None:
        if not settings.ca_file.is_file():
            raise ConfigError(f"CA file {settings.ca_file} does not exist (ca_file)")
        return str(settings.ca_file)
    return settings.verify_tls


def new_session(settings: HttpSourceSettings) -> requests.Session:
    """A Session with the auth, TLS verification and retry policy of ``settings``."""
    session = requests.Session()
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=0,
        status=settings.retries,
        other=0,
        backoff_factor=BACKOFF_FACTOR,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),  # every call here is a read
        raise_on_status=False,  # the last 5xx answer reaches get_json, which reports it
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = _auth(settings)
    session.verify = _verify(settings)
    session.headers["Accept"] = "application/json"
    return session


def redact_url(url: str) -> str:
    """``url`` without any user:password@ part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class HttpSource:
    """One configured back-end: its name (for messages), base URL, Session and timeout."""

    name: str
    base_url: str
    session: requests.Session
    timeout: float
    # Passed with every request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the
    # environment override a Session's own verify (psf/requests#3829), which would
    # silently drop a configured ca_file or verify_tls: false.
    verify: bool | str = True

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def get_json(self, path: str, params: Params = None) -> Any:
        """GET ``path`` and decode its JSON body; SourceError on any failure."""
        url = self.url(path)
        where = f"{self.name} at {redact_url(url)}"
        log.debug("GET %s", redact_url(url))
        try:
            response = self.session.get(
                url, params=params, timeout=self.timeout, verify=self.verify
            )
        except requests.exceptions.SSLError as exc:
            raise SourceUnavailableError(
                f"{where}: TLS failed ({_reason(exc)}); set ca_file to the CA that signed "
                "its certificate, or verify_tls: false to skip verification"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if _timed_out(exc):
                # With retries configured, urllib3 wraps a read timeout in MaxRetryError,
                # which requests reports as a ConnectionError.
                raise SourceUnavailableError(
                    f"{where} did not answer within {self.timeout:g}s (timeout)"
                ) from None
            raise SourceUnavailableError(
                f"cannot reach {where}: {_reason(exc)}. Is it running, and is the URL right?"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise SourceError(f"{where}: {type(exc).__name__}: {_reason(exc)}") from None
        status = response.status_code
        if status in (401, 403):
            raise SourceAuthError(
                f"{where} refused the credentials (HTTP {status}); check bearer_token, "
                "bearer_token_file or username/password for this source"
            )
        if status >= 400:
            raise SourceError(f"{where} answered HTTP {status}: {_snippet(response.text)}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(
                f"{where} answered a body that is not JSON "
                f"({response.headers.get('Content-Type', 'no content type')}): "
                f"{_snippet(response.text)}. Is the URL that of the right server?"
            ) from None

    def get_model(self, path: str, model: type[M], params: Params = None) -> M:
        """GET ``path`` and check its JSON against ``model``; SourceError if it does not fit."""
        body = self.get_json(path, params)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the body"
            raise SourceError(
                f"{self.name} at {redact_url(self.url(path))} answered JSON of an unexpected "
                f"shape ({where}: {first['msg']}). Is the URL that of the right kind of server?"
            ) from None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(name: str, settings: HttpSourceSettings) -> HttpSource:
    """The source ``name`` as ``settings`` configure it; ConfigError if it has no URL."""
    if not settings.url:
        raise ConfigError(f"no URL configured for {name} (sources.{name}.url)")
    scheme = urlsplit(settings.url).scheme
    if scheme not in ("http", "https"):
        raise ConfigError(
            f"{name} URL {redact_url(settings.url)!r} must start with http:// or https://"
        )
    session = new_session(settings)
    verify = session.verify if isinstance(session.verify, bool | str) else True
    return HttpSource(name, settings.url, session, settings.timeout, verify)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it wraps, outermost first (requests nests urllib3's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nested = current.args[0] if current.args else None
        if not isinstance(nested, BaseException):
            nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = current.__cause__
        current = nested if isinstance(nested, BaseException) else None


def _timed_out(exc: BaseException) -> bool:
    for cause in _causes(exc):
        # urllib3 derives NewConnectionError (refused, unresolvable) from its timeout error.
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return False
        if isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError):
            return True
    return False


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, which says what really happened."""
    *_, inner = _causes(exc)
    text = str(inner)
    # urllib3 prefixes "<connection object at 0x...>: "; the rest is the message.
    return text.split(">: ", 1)[-1] if ">: " in text else text


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
