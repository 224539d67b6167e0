"""Reading the Kubernetes API with the official client: connections, JSON requests with
retries, paged lists and watch streams.

Responses are decoded as plain JSON rather than into the client's model classes: the
models cost several times the memory and time of the JSON, and custom resources have
none. The client still does what it is good at: kubeconfig and in-cluster configuration,
credentials (exec plugins, token refresh), TLS and connection pooling.

Timeouts, refused or reset connections, truncated bodies, 429 and 5xx answers are retried
with exponential backoff and jitter; other answers raise at once (korrel8.errors). No
message ever includes a request's headers, so no token reaches a log.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from korrel8.config import KubernetesSettings
from korrel8.errors import (
    ConfigError,
    KubernetesError,
    KubernetesForbiddenError,
    KubernetesGoneError,
    KubernetesNotFoundError,
    KubernetesUnavailableError,
)

log = logging.getLogger(__name__)

IN_CLUSTER = "in-cluster"  # the context name of the in-cluster configuration
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
POOL_SIZE = 64  # connections per cluster


@dataclass(frozen=True)
class Retry:
    """How hard to try one request."""

    attempts: int = 5  # tries, the first included
    backoff: float = 0.5  # seconds before the second try; doubles each time
    max_backoff: float = 10.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # per read of a list page; watches wait longer

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based), with jitter."""
        base = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)  # jitter, not cryptography


@dataclass
class Connection:
    """One cluster's API, through one credential."""

    context: str  # the kubeconfig context, or "in-cluster"
    api: k8s_client.ApiClient
    retry: Retry

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]


# --------------------------------------------------------------------------- configuration


def kubeconfig_path(settings: KubernetesSettings) -> str | None:
    """The kubeconfig to read (``KUBECONFIG`` may join several with ``:``), or None when
    none exists and the in-cluster configuration applies."""
    if settings.kubeconfig is not None:
        if not settings.kubeconfig.is_file():
            raise ConfigError(f"sources.kubernetes.kubeconfig: no such file {settings.kubeconfig}")
        return str(settings.kubeconfig)
    # Read at each call: the client's own default was fixed when it was imported.
    named = os.environ.get("KUBECONFIG")
    if named:
        return named
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def contexts(settings: KubernetesSettings, only: str | None = None) -> list[str]:
    """The contexts to ingest: ``only``, else the configured ones, else the current one."""
    path = kubeconfig_path(settings)
    if path is None:
        if only not in (None, IN_CLUSTER):
            raise ConfigError(f"no kubeconfig found for context {only!r} (set KUBECONFIG)")
        return [IN_CLUSTER]
    try:
        known, current = k8s_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    names = [c["name"] for c in known or []]
    wanted = [only] if only else list(settings.contexts)
    if not wanted:
        if not current:
            raise ConfigError(f"kubeconfig {path} has no current context: name one (--context)")
        return [current["name"]]
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ConfigError(
            f"no context {', '.join(unknown)} in kubeconfig {path}; "
            f"its contexts: {', '.join(names) or '(none)'}"
        )
    return wanted


def connect(settings: KubernetesSettings, context: str, retry: Retry | None = None) -> Connection:
    """A client for ``context`` (``"in-cluster"``: the pod's service account)."""
    configuration = k8s_client.Configuration()
    path = kubeconfig_path(settings)
    try:
        if context == IN_CLUSTER and path is None:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError) as exc:
        raise ConfigError(f"cannot configure Kubernetes context {context!r}: {exc}") from exc
    # Retries are ours (they see truncated bodies too); urllib3's would multiply them.
    configuration.retries = False
    # A watch holds a connection per kind; a smaller pool would drop and reopen them.
    configuration.connection_pool_maxsize = max(POOL_SIZE, configuration.connection_pool_maxsize)
    return Connection(context, k8s_client.ApiClient(configuration), retry or Retry())


# --------------------------------------------------------------------------- requests


class _Transient(Exception):
    """A failure worth another try."""


def _error_message(status: int, body: bytes) -> str:
    try:
        doc = json.loads(body)
        return str(doc.get("message") or doc.get("reason") or status)
    except ValueError:
        return body[:200].decode(errors="replace") or str(status)


def _raise_for_status(conn: Connection, path: str, status: int, body: bytes) -> None:
    if 200 <= status <= 299:
        return
    message = f"{conn.context}: GET {path}: HTTP {status}: {_error_message(status, body)}"
    if status in RETRIED_STATUSES:
        raise _Transient(message)
    if status == 403:
        raise KubernetesForbiddenError(message, status)
    if status == 404:
        raise KubernetesNotFoundError(message, status)
    if status == 410:
        raise KubernetesGoneError(message, status)
    if status == 401:
        message += " (the credential was refused: renew it or check the kubeconfig user)"
    raise KubernetesError(message, status)


def _open(
    conn: Connection, path: str, query: Mapping[str, Any], accept: str, read_timeout: float
) -> k8s_client.rest.RESTResponse:
    api = conn.api
    _, url, headers, _, _ = api.param_serialize(
        method="GET",
        resource_path=path,
        query_params=list(query.items()),
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    try:
        return api.call_api(
            "GET",
            url,
            header_params=headers,
            _request_timeout=(conn.retry.connect_timeout, read_timeout),
        )
    except ApiException as exc:  # the client's wrapping of TLS errors
        if "CERTIFICATE_VERIFY_FAILED" in str(exc.reason):
            raise KubernetesError(
                f"{conn.context}: the API server's certificate was not trusted: check the "
                "kubeconfig's certificate-authority"
            ) from exc
        raise _Transient(f"{conn.context}: GET {path}: {exc.reason}") from exc
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{conn.context}: GET {path}: {type(exc).__name__}: {exc}") from exc


def _with_retries(conn: Connection, path: str, attempt_once: Any) -> Any:
    retry = conn.retry
    for attempt in range(1, retry.attempts + 1):
        try:
            return attempt_once()
        except _Transient as exc:
            if attempt == retry.attempts:
                raise KubernetesUnavailableError(
                    f"{exc} (gave up after {retry.attempts} tries)"
                ) from exc
            delay = retry.delay(attempt)
            log.info("%s; retrying in %.1f s", exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def get_json(
    conn: Connection,
    path: str,
    query: Mapping[str, Any] | None = None,
    accept: str = "application/json",
) -> dict[str, Any]:
    """GET ``path`` and decode the JSON answer, retrying transient failures."""

    def once() -> dict[str, Any]:
        response = _open(conn, path, query or {}, accept, conn.retry.read_timeout)
        try:
            body = response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{conn.context}: GET {path}: body cut short: {exc}") from exc
        finally:
            response.response.release_conn()
        _raise_for_status(conn, path, response.status, body)
        try:
            doc = json.loads(body)
        except ValueError as exc:  # a body cut short by a proxy reads as bad JSON
            raise _Transient(f"{conn.context}: GET {path}: malformed JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise KubernetesError(f"{conn.context}: GET {path}: expected a JSON object")
        return doc

    result: dict[str, Any] = _with_retries(conn, path, once)
    return result


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    resource_version: str  # the list's, to watch from
    remaining: int | None  # the server's estimate of the items still to come
    last: bool


def list_pages(
    conn: Connection, path: str, page_size: int, accept: str = "application/json"
) -> Iterator[Page]:
    """The collection at ``path``, page by page (``limit`` and ``continue``).

    Raises KubernetesGoneError when a continue token expires mid-listing: the caller
    lists again from the start.
    """
    token: str | None = None
    while True:
        query: dict[str, Any] = {"limit": page_size}
        if token:
            query["continue"] = token
        doc = get_json(conn, path, query, accept)
        meta = doc.get("metadata") or {}
        token = meta.get("continue")
        yield Page(
            items=doc.get("items") or [],
            resource_version=str(meta.get("resourceVersion") or ""),
            remaining=meta.get("remainingItemCount"),
            last=not token,
        )
        if not token:
            return


def prefetch(pages: Iterator[Page]) -> Iterator[Page]:
    """``pages``, with the next one fetched while the caller handles the current one, so
    that the API server's latency and the store's overlap. At most three pages are held:
    the caller's, one waiting, one arriving."""
    slot: queue.Queue[Page | BaseException | None] = queue.Queue(1)
    stop = threading.Event()

    def put(item: Page | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(None)
        except BaseException as exc:  # handed to the caller's thread
            put(exc)

    threading.Thread(target=produce, name="k8s-prefetch", daemon=True).start()
    try:
        while (item := slot.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # the producer ends at its next page


class WatchStream:
    """One watch request: iterate for events (``{"type", "object"}``); ``close()`` from
    any thread ends the iteration."""

    def __init__(
        self, conn: Connection, path: str, resource_version: str, accept: str, timeout: int
    ) -> None:
        self.conn = conn
        self.path = path
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout,
        }
        self._closed = threading.Event()

        def once() -> k8s_client.rest.RESTResponse:
            response = _open(conn, path, query, accept, timeout + 30.0)
            if not 200 <= response.status <= 299:
                body = response.read()  # type: ignore[no-untyped-call]
                response.response.release_conn()
                _raise_for_status(conn, path, response.status, body)
            return response

        self._response = _with_retries(conn, path, once)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        raw = self._response.response
        try:
            for line in raw:
                if self._closed.is_set():
                    return
                if line.strip():
                    event: dict[str, Any] = json.loads(line)
                    yield event
        except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException, ValueError):
            if self._closed.is_set():
                return
            raise KubernetesUnavailableError(
                f"{self.conn.context}: the watch of {self.path} broke off"
            ) from None
        finally:
            raw.release_conn()

    def close(self) -> None:
        self._closed.set()
        # Unblocks a read waiting in another thread (urllib3 >= 2.3); fails harmlessly
        # when the stream has already ended.
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            self._response.response.shutdown()


__all__ = [
    "IN_CLUSTER",
    "Connection",
    "Page",
    "Retry",
    "WatchStream",
    "connect",
    "contexts",
    "get_json",
    "kubeconfig_path",
    "list_pages",
    "prefetch",
]
