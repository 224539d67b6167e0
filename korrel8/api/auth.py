"""Who is asking, and what they may see: Kubernetes' own answer, per bearer token.

With ``api.auth: kubernetes`` every REST or MCP request carries a bearer token (a
ServiceAccount's, or a user's from the cluster's identity provider). korrel8 asks the
cluster with its own credentials:

1. **TokenReview** (authentication.k8s.io/v1): whose token it is. No token, or one the
   cluster does not accept, raises ``Unauthenticated`` (the API answers 401).
2. **SubjectAccessReview** (authorization.k8s.io/v1): may that user ``list`` each kind the
   graph holds? First once per kind cluster-wide; then, for the namespaced kinds not
   allowed cluster-wide, once per namespace where the graph holds that kind. Signals
   (logs, metrics, alerts, traces) follow who may list the Pods of their namespace.

The answer, a ``Visibility`` (korrel8/visibility.py), is kept per token for
``api.auth_cache_seconds``: a revoked RoleBinding takes effect within that time. Tokens are
kept only as their SHA-256 and never logged. korrel8's own credential needs ``create`` on
tokenreviews and subjectaccessreviews (the ``system:auth-delegator`` ClusterRole).

With ``api.auth: none`` every caller is an operator (``None``: the whole graph), allowed on
a loopback address, or beyond with ``api.allow_insecure_no_auth`` (a warning at start).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from ingest.k8s.api import Connection, connect, contexts, get_json
from korrel8.config import ApiSettings, Settings
from korrel8.errors import (
    ConfigError,
    KubernetesError,
    KubernetesUnavailableError,
    Unauthenticated,
)
from korrel8.graph import statements
from korrel8.graph.store import Store
from korrel8.visibility import Scope, Visibility

__all__ = ["AuthMode", "Authenticator", "Caller", "auth_mode", "is_loopback"]

log = logging.getLogger(__name__)

AuthMode = Literal["kubernetes", "none"]
VERB = "list"  # listing a kind shows every object of it, as korrel8's answers do
SIGNAL_KIND = ("", "pods")  # signals follow who may list their namespace's Pods
WORKERS = 16  # SubjectAccessReviews in flight at once
MAX_CACHED = 10_000  # tokens; the oldest go first
DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


# --- the mode ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a listen address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_mode(settings: ApiSettings, host: str) -> AuthMode:
    """The mode to serve with on ``host``: kubernetes unless none is allowed there. Raises
    ConfigError for ``auth: none`` beyond loopback without ``allow_insecure_no_auth``."""
    if settings.auth == "kubernetes":
        return "kubernetes"
    if settings.auth is None:
        return "none" if is_loopback(host) else "kubernetes"
    if is_loopback(host):
        return "none"
    if not settings.allow_insecure_no_auth:
        raise ConfigError(
            f"api.auth: none on {host}, beyond loopback, would show the whole graph to anyone "
            "who reaches the port: use api.auth: kubernetes, listen on 127.0.0.1, or set "
            "api.allow_insecure_no_auth: true"
        )
    log.warning(
        "api.auth is none on %s: every caller sees the whole graph, with no token "
        "(api.allow_insecure_no_auth is set)",
        host,
    )
    return "none"


# --- who --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A user as TokenReview names it: what a SubjectAccessReview asks about."""

    username: str
    uid: str | None = None
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class _Kind:
    group: str
    resource: str  # the plural
    namespaced: bool


def _split_class(name: str) -> tuple[str, str]:
    """(group, kind) of a k8s class: ``Deployment.apps`` -> (apps, Deployment)."""
    kind, _, group = name.partition(".")
    return group, kind


class Authenticator:
    """``caller(token)``: the Visibility of the token's user (None with auth none)."""

    def __init__(
        self,
        settings: ApiSettings,
        store: Store,
        connection: Connection | None = None,
        *,
        mode: AuthMode = "kubernetes",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode == "kubernetes" and connection is None:
            raise ConfigError("api.auth: kubernetes needs a Kubernetes API to ask")
        self.mode = mode
        self.settings = settings
        self.store = store
        self.connection = connection
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Visibility]] = {}
        self._census: tuple[float, dict[str | None, set[str | None]]] | None = None
        self._kinds: tuple[float, dict[tuple[str, str], _Kind]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, host: str) -> Authenticator:
        """The Authenticator for serving on ``host``, with the cluster of
        ``sources.kubernetes`` (its first context, or in-cluster) asked with korrel8's own
        credentials."""
        mode = auth_mode(settings.api, host)
        if mode == "none":
            return cls(settings.api, store, mode="none")
        k8s = settings.sources.kubernetes
        try:
            conn = connect(k8s, contexts(k8s)[0])
        except ConfigError as exc:
            raise ConfigError(
                f"api.auth: kubernetes (the default beyond loopback) asks Kubernetes who each "
                f"caller is, and no cluster can be asked: {exc}. Configure "
                "sources.kubernetes, or listen on 127.0.0.1, or set api.auth: none with "
                "api.allow_insecure_no_auth: true"
            ) from exc
        return cls(settings.api, store, conn, mode="kubernetes")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()

    # --- the entry point ----------------------------------------------------------------

    def caller(self, token: str | None) -> Visibility | None:
        """What the bearer ``token``'s user may see; None (everything) with auth none.
        Raises Unauthenticated for no token or one Kubernetes does not accept."""
        if self.mode == "none":
            return None
        if not token or not token.strip():
            raise Unauthenticated("a bearer token is required (Authorization: Bearer ...)")
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        who = self._review_token(token.strip())
        visibility = self._visibility(who)
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._evict(now)
            self._cache[key] = (now + self.settings.auth_cache_seconds, visibility)
        return visibility

    def _evict(self, now: float) -> None:
        expired = [k for k, (until, _) in self._cache.items() if until <= now]
        for k in expired or list(self._cache)[: MAX_CACHED // 10]:
            del self._cache[k]

    # --- TokenReview --------------------------------------------------------------------

    def _review_token(self, token: str) -> Caller:
        assert self.connection is not None
        api = k8s_client.AuthenticationV1Api(self.connection.api)
        body = k8s_client.V1TokenReview(spec=k8s_client.V1TokenReviewSpec(token=token))
        status = _call(self.connection, "TokenReview", lambda: api.create_token_review(body))
        review = status.status
        if review is None or not review.authenticated or review.user is None:
            # The apiserver's reason may quote the token's claims: say only that it failed.
            raise Unauthenticated("the bearer token was not accepted by Kubernetes")
        user = review.user
        extra = {k: tuple(v) for k, v in (user.extra or {}).items()}
        return Caller(
            username=str(user.username or ""),
            uid=user.uid,
            groups=tuple(user.groups or ()),
            extra=extra or None,
        )

    # --- SubjectAccessReview ------------------------------------------------------------

    def _allowed(self, who: Caller, kind: _Kind, namespace: str | None) -> bool:
        assert self.connection is not None
        api = k8s_client.AuthorizationV1Api(self.connection.api)
        body = k8s_client.V1SubjectAccessReview(
            spec=k8s_client.V1SubjectAccessReviewSpec(
                user=who.username,
                uid=who.uid,
                groups=list(who.groups),
                extra={k: list(v) for k, v in (who.extra or {}).items()} or None,
                resource_attributes=k8s_client.V1ResourceAttributes(
                    verb=VERB, group=kind.group, resource=kind.resource, namespace=namespace
                ),
            )
        )
        answer = _call(
            self.connection,
            "SubjectAccessReview",
            lambda: api.create_subject_access_review(body),
        )
        return bool(answer.status is not None and answer.status.allowed)

    def _visibility(self, who: Caller) -> Visibility:
        census = self._graph_census()
        kinds = self._discovered()
        # Kubernetes classes of the graph the cluster serves, and where their objects are.
        wanted: dict[str, _Kind] = {}
        for class_ in census:
            if class_ is None:
                continue
            kind = kinds.get(_split_class(class_))
            if kind is not None:  # not served here (another cluster's CRD): hidden
                wanted[class_] = kind
        signal_namespaces = {ns for ns in census.get(None, set()) if ns is not None}
        pods = kinds.get(("", "Pod"), _Kind(*SIGNAL_KIND, namespaced=True))
        checks: dict[tuple[_Kind, str | None], bool] = {}
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:

            def ask(pairs: Iterable[tuple[_Kind, str | None]]) -> None:
                todo = [p for p in set(pairs) if p not in checks]
                for pair, allowed in zip(
                    todo, pool.map(lambda p: self._allowed(who, *p), todo), strict=True
                ):
                    checks[pair] = allowed

            # First cluster-wide, once per kind; then per namespace where still needed.
            ask([(k, None) for k in {*wanted.values(), pods}])
            per_namespace = [
                (kind, ns)
                for class_, kind in wanted.items()
                if kind.namespaced and not checks[(kind, None)]
                for ns in census[class_]
                if ns is not None
            ]
            if not checks[(pods, None)]:
                per_namespace += [(pods, ns) for ns in signal_namespaces]
            ask(per_namespace)

        def scope(kind: _Kind, namespaces: Iterable[str | None]) -> Scope:
            if checks[(kind, None)]:
                return Scope(cluster_wide=True)
            return Scope.of(ns for ns in namespaces if ns is not None and checks.get((kind, ns)))

        visibility = Visibility(
            kinds={c: scope(k, census[c]) for c, k in wanted.items()},
            signals=scope(pods, signal_namespaces),
            clusters=frozenset(self.settings.auth_clusters) or None,
            subject=who.username,
        )
        log.debug(
            "%s: %d SubjectAccessReviews; %d kinds cluster-wide",
            who.username,
            len(checks),
            sum(1 for s in visibility.kinds.values() if s.cluster_wide),
        )
        return visibility

    # --- what the graph holds, and what the cluster serves ------------------------------

    def _graph_census(self) -> dict[str | None, set[str | None]]:
        """Per k8s class (None: every signal), the namespaces its objects are in; shared by
        every caller for the cache time."""
        now = self.clock()
        with self._lock:
            if self._census is not None and self._census[0] > now:
                return self._census[1]
        clusters = self.settings.auth_clusters or None
        rows = self.store.read(statements.load("queries/census"), clusters=clusters)
        census: dict[str | None, set[str | None]] = {}
        for row in rows:
            census.setdefault(row["class"], set()).add(row["namespace"])
        with self._lock:
            self._census = (now + self.settings.auth_cache_seconds, census)
        return census

    def _discovered(self) -> dict[tuple[str, str], _Kind]:
        """(group, kind) -> its resource, from the cluster's discovery (kept ten minutes,
        or the cache time if longer: CRDs come and go rarely)."""
        now = self.clock()
        with self._lock:
            if self._kinds is not None and self._kinds[0] > now:
                return self._kinds[1]
        assert self.connection is not None
        kinds = discover(self.connection)
        with self._lock:
            self._kinds = (now + max(600.0, self.settings.auth_cache_seconds), kinds)
        return kinds


def _call(conn: Connection, what: str, request: Callable[[], Any]) -> Any:
    """One review, retried once on a transient failure; korrel8 errors otherwise."""
    for attempt in (1, 2):
        try:
            return request()
        except ApiException as exc:
            if exc.status in (429, 500, 502, 503, 504) and attempt == 1:
                continue
            if exc.status in (401, 403):
                raise KubernetesError(
                    f"{conn.context}: korrel8 may not create a {what} (HTTP {exc.status}): "
                    "bind its ServiceAccount to the ClusterRole system:auth-delegator",
                    exc.status,
                ) from None
            raise KubernetesError(
                f"{conn.context}: {what}: HTTP {exc.status} {exc.reason}", exc.status
            ) from None
        except OSError as exc:  # urllib3's connection errors are OSErrors
            if attempt == 1:
                continue
            raise KubernetesUnavailableError(
                f"{conn.context}: {what}: {type(exc).__name__}: {exc}"
            ) from None
    raise AssertionError("unreachable")


def discover(conn: Connection) -> dict[tuple[str, str], _Kind]:
    """(group, kind) -> resource of every kind the cluster serves (aggregated discovery,
    or the legacy per-group documents from an older server)."""
    found: dict[tuple[str, str], _Kind] = {}
    for root in ("/api", "/apis"):
        doc = get_json(conn, root, accept=DISCOVERY_ACCEPT)
        if doc.get("kind") == "APIGroupDiscoveryList":
            for group in doc.get("items", []):
                name = group.get("metadata", {}).get("name", "")
                for res in (group.get("versions") or [{}])[0].get("resources", []):
                    kind = (res.get("responseKind") or {}).get("kind")
                    if kind:
                        namespaced = res.get("scope") == "Namespaced"
                        found.setdefault((name, kind), _Kind(name, res["resource"], namespaced))
            continue
        if root == "/api":
            versions = [("", f"/api/{v}") for v in doc.get("versions", [])[:1]]
        else:
            versions = [
                (g["name"], f"/apis/{g['preferredVersion']['groupVersion']}")
                for g in doc.get("groups", [])
            ]
        for name, path in versions:
            for res in get_json(conn, path).get("resources", []):
                if "/" not in res["name"]:  # not a subresource
                    kind = _Kind(name, res["name"], bool(res["namespaced"]))
                    found.setdefault((name, res["kind"]), kind)
    return found
