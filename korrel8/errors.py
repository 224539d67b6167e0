"""Every exception korrel8 raises on purpose, in one place.

Each carries a message a user can act on; the CLI prints it without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class Korrel8Error(Exception):
    """Base of every error korrel8 raises deliberately."""


class ConfigError(Korrel8Error):
    """The configuration is missing or malformed."""


class ParseError(Korrel8Error):
    """A class, query or selector could not be parsed; the message says where."""


class UnknownDomainError(ParseError):
    """A domain name that korrel8 does not know; the message lists the known ones."""


class UnknownClassError(ParseError):
    """A class name that korrel8 does not know; the message lists close ones."""


class InvalidIdentifierError(Korrel8Error):
    """A label, relationship type or property key that may not reach Cypher text."""


class StoreError(Korrel8Error):
    """The graph store failed."""


class StoreUnavailableError(StoreError):
    """The Neo4j server cannot be reached."""


class QueryTimeoutError(StoreError):
    """A read query ran past its time limit; Neo4j stopped it."""


class AuthenticationError(StoreError):
    """Neo4j refused the credentials."""


class DatabaseNotFoundError(StoreError):
    """The configured Neo4j database does not exist."""


class LauncherError(Korrel8Error):
    """The local Neo4j could not be started, stopped or inspected."""


class QueryGenerationError(Korrel8Error):
    """No valid LogQL, PromQL or TraceQL query can be made from the given labels."""


class SourceError(Korrel8Error):
    """An HTTP back-end (Alertmanager, Prometheus, Loki, Tempo) failed or answered nonsense.

    The message names the source and its URL, never its credentials.
    """


class SourceUnavailableError(SourceError):
    """An HTTP back-end cannot be reached, or did not answer in time."""


class SourceAuthError(SourceError):
    """An HTTP back-end refused korrel8's credentials (HTTP 401 or 403)."""


class KubernetesError(Korrel8Error):
    """The Kubernetes API failed or refused a request; the message names the cluster."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, None when no answer came


class KubernetesForbiddenError(KubernetesError):
    """The credential may not read a resource (HTTP 403): grant list/watch, or leave it out."""


class KubernetesNotFoundError(KubernetesError):
    """The cluster does not serve a resource (HTTP 404)."""


class KubernetesGoneError(KubernetesError):
    """A resourceVersion or continue token has expired (HTTP 410): list again."""


class KubernetesUnavailableError(KubernetesError):
    """The API server did not answer, after retries (timeouts, refused or reset connections)."""


class Unauthenticated(Korrel8Error):
    """A REST or MCP request with no bearer token, or one Kubernetes did not accept
    (TokenReview): the API answers 401. The message never holds the token."""


class StartNotFoundError(Korrel8Error):
    """The start query matches no object in the window; the message names the nearest."""


class GoalUnreachableError(Korrel8Error):
    """No rule chain leads from the start to a goal; the message says what is reachable."""

    def __init__(self, message: str, reachable: Sequence[tuple[str, int, int]] = ()) -> None:
        super().__init__(message)
        self.reachable = tuple(reachable)  # (class, least depth, objects)


class DepthError(Korrel8Error):
    """A depth outside 1..the configured maximum."""


class TimeWindowError(ParseError):
    """A --since, --until or --at that is not a time, or a window that ends before it starts."""


class SnapshotError(Korrel8Error):
    """An offline snapshot cannot be read: missing, or not a directory, file or archive."""


class SnapshotFormatError(SnapshotError):
    """A file of a snapshot is not valid YAML or JSON, or holds something korrel8 cannot
    store; the message starts with ``FILE:LINE:COLUMN`` (as far as they are known)."""

    def __init__(
        self, file: str, problem: str, line: int | None = None, column: int | None = None
    ) -> None:
        where = ":".join([file, *(str(n) for n in (line, column) if n is not None)])
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.line = line
        self.column = column
