"""Offline snapshots: load a cluster's objects (and alerts) from files, for a cluster that
korrel8 cannot reach.

    for source_file, obj in iter_objects(path): ...   # every Kubernetes object, redacted
    for source_file, alert in iter_alerts(path): ...  # every alert of the alerts files
    summary = ingest(store, path)                      # both, and pod logs, into the graph

What a snapshot is: a directory, a single file, or an archive (``.tar``, ``.tar.gz``,
``.tgz``, ``.tar.xz``, ``.tar.bz2``, ``.zip``) of ``.yaml``, ``.yml`` and ``.json`` files,
as ``kubectl get -o yaml`` or ``-o json`` prints them: single objects, ``List`` (and typed
``PodList``...) objects, multi-document YAML. An empty typed list (``items: []``, ``items:
null``, or none, as a must-gather keeps a namespace without Routes) holds no object but is
a listing of its kind. Files named ``alerts.json``, and a must-gather's
``monitoring/prometheus/rules.json``, hold alerts instead: Alertmanager's
``/api/v2/alerts`` answer, or Prometheus' ``/api/v1/rules`` (pending and firing alerts
with their rule's expression; inactive rules are no alert) or ``/api/v1/alerts`` answer
(ingest/alerts.py, ``saved_alerts``); an empty one (a failed request) is ignored. Other
files are ignored, but for a must-gather's pod logs.

OpenShift must-gather archives fit that rule. ``oc adm must-gather`` writes, under
``must-gather.local.<random>/<image-dir>/``, what ``oc adm inspect`` writes (openshift/oc,
pkg/cli/admin/inspect: ``dirPathForInfo`` and ``filenameForInfo`` in util.go, the directory
names in resource.go, namespace.go and pod.go):

    namespaces/<ns>/<ns>.yaml                           the Namespace
    namespaces/<ns>/<group>/<plural>.yaml               a List per resource ("core": group "")
    namespaces/<ns>/pods/<pod>/<pod>.yaml               each running pod again, beside
    namespaces/<ns>/pods/<pod>/<container>/...          its logs, metrics.json, healthz
    cluster-scoped-resources/<group>/<plural>.yaml      a List, or one object per file:
    cluster-scoped-resources/<group>/<plural>/<name>.yaml

The container directories under ``pods/<pod>/`` hold no objects (their ``.json`` files
are endpoint dumps); their ``logs/current.log`` and ``previous.log`` become the log stream
nodes of the snapshot, naming those files, never read (ingest/snapshot_logs.py). An object
found twice (a pod in ``core/pods.yaml`` and ``pods/<pod>/``) counts once. Secrets in a
must-gather are already elided ("N bytes long", secret.go); korrel8 drops their data
anyway.

How objects become nodes: exactly as the live ingester does (``ingest.k8s.rows.to_row``),
each matched by its API group and kind to the known kinds of ``k8s/kinds.yaml``: core
``v1`` Events (what ``kubectl get events`` prints) are ``k8s:Event``, as the live
ingester lists them, and ``events.k8s.io/v1`` Events ``k8s:Event.events.k8s.io``. A kind
with an API group that is not one of Kubernetes' own becomes a custom resource; other
kinds (Endpoints, Roles...) are skipped, as the live ingester never lists them. Secrets
and ConfigMaps are cut to their metadata as soon as they are read: their data never
reaches a row, a log or a caller.

Source and sweep: the nodes get source ``k8s``, the live ingester's, so that a cluster
loaded from a snapshot and later reached live is one set of nodes, not two. A snapshot is
taken as a complete listing of the classes it contains, objects or empty lists: after
loading, the nodes of those classes in that cluster that it lacked are marked deleted.
Not after a partial load: a file that cannot be parsed (or an archive that breaks off, a
file beyond a limit, a symlink out of a directory snapshot) is reported with its path and
position, the rest still loads, and nothing is swept. Nor, unless ``allow_mass_delete``,
for a kind that would lose more than a share of its nodes at once (the mass-delete guard,
korrel8/graph/mass_delete.py): the summary says so, and the other kinds are swept.
``sweep=False`` (``--no-sweep``) is for snapshots that hold part of a cluster, like a
must-gather, which inspects some namespaces only.

The cluster: ``cluster`` if given, else the UID of the snapshot's kube-system Namespace
(the live ingester's rule, so that both name the cluster alike), else the snapshot's file
name without its archive suffix. Alerts carrying a ``cluster`` label keep it. The
alerts files are the complete view of the cluster's alerts, as Alertmanager's answer is to
the live ingester: after a load without errors, the open alerts they lack are resolved.
Alertmanager's and Prometheus' alerts are merged as the live ingester merges them (one
node per label set, Alertmanager's state, the rule's expression). Prometheus' external
labels are not added (a must-gather keeps them in ``status/config.json``, not read). Log
streams are never swept: a must-gather has the logs of running pods only.

Memory: one file at a time (a List file is parsed whole), plus the refs seen so far and the
alerts. Bounded whatever the input (:class:`Limits`, settings ``snapshot_max_*``): a file's
declared size, a document's size and nesting depth (checked before parsing: libyaml's
composer recurses, and 100,000 levels crash the process), and, as an archive streams, what
it decompresses to in all and at what ratio, so that a bomb is refused after a few MB
(bench/ingest_memory.py measures it). Naming the cluster from kube-system reads the
snapshot twice (the first pass parses only the files that mention kube-system). Time:
parsing YAML (PyYAML with libyaml) dominates; ``-o json`` snapshots load several times
faster.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
import tarfile
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, NamedTuple, overload

import yaml

from ingest import alerts, snapshot_logs
from ingest.k8s.kinds import KindSpec, known_kinds
from ingest.k8s.rows import SOURCE, UNREPRESENTABLE, to_row
from ingest.summary import Summary
from korrel8.config import Settings
from korrel8.errors import ParseError, SnapshotError, SnapshotFormatError
from korrel8.graph import mass_delete
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store, utcnow
from korrel8.model import get_domain

__all__ = ["Limits", "check", "cluster_name", "file_count", "ingest", "iter_alerts", "iter_objects"]

Obj = dict[str, Any]
Progress = Callable[[str], None]
FileCounter = Callable[[int, int], None]  # files read, objects found so far
OnError = Callable[[SnapshotFormatError], None]

SUMMARY_SOURCE = "snapshot"
ALERTS_FILE = "alerts.json"
# Where a must-gather keeps Prometheus' /api/v1/rules (openshift/must-gather,
# collection-scripts/gather_monitoring: ``prom_get rules``).
RULES_FILE = ("monitoring", "prometheus", "rules.json")
DEFAULT_LOG_CONVENTION = "lokistack"  # OpenShift's, whose must-gathers keep logs
OBJECT_SUFFIXES = (".yaml", ".yml", ".json")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar", ".zip")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
PROGRESS_EVERY = 200  # files

# Kubernetes' own API groups besides those of domains.yaml (which lists the usual ones):
# a kind in any of them is built in, never a custom resource.
_MORE_BUILTIN_GROUPS = frozenset(
    {
        "extensions",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "metrics.k8s.io",
        "resource.k8s.io",
        "storagemigration.k8s.io",
    }
)


# --------------------------------------------------------------------------- files


def _archive_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in ARCHIVE_SUFFIXES if name.endswith(s)), None)


def _wanted(relative: str) -> bool:
    """A file that may hold objects or alerts (``relative`` uses ``/``)."""
    parts = PurePosixPath(relative).parts
    if not parts or not parts[-1].lower().endswith(OBJECT_SUFFIXES):
        return False
    # Hidden files, and the resource forks macOS puts in archives (._pods.yaml).
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return not _container_data(parts)


def _container_data(parts: tuple[str, ...]) -> bool:
    """must-gather's ``namespaces/<ns>/pods/<pod>/<container>/...``: logs and endpoint
    dumps, never objects (only ``pods/<pod>/<pod>.yaml`` is)."""
    return any(
        part == "pods" and i >= 2 and parts[i - 2] == "namespaces" and len(parts) > i + 3
        for i, part in enumerate(parts)
    )


def _is_alerts(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return bool(parts) and (parts[-1].lower() == ALERTS_FILE or parts[-3:] == RULES_FILE)


def _is_log(relative: str) -> bool:
    return snapshot_logs.container_of(relative) is not None


def check(path: Path) -> None:
    """Raise SnapshotError unless ``path`` is something a snapshot can be."""
    if path.is_dir() or (path.is_file() and (_archive_suffix(path) or _wanted(path.name))):
        return
    what = "no such file or directory" if not path.exists() else "not a snapshot"
    raise SnapshotError(
        f"{path}: {what}; a snapshot is a directory, a .yaml, .yml or .json file, "
        f"or an archive ({', '.join(ARCHIVE_SUFFIXES)})"
    )


class _File(NamedTuple):
    name: str  # the file's path, or ``ARCHIVE:MEMBER`` inside an archive
    relative: str  # its path within the snapshot, with ``/``
    data: bytes | None  # None: a file only noted, never read (a log)


Select = Callable[[str], bool]  # of a file's path within the snapshot


def _never(relative: str) -> bool:
    return False


def file_count(path: Path) -> int | None:
    """How many files a load reads at most (not all hold objects), if that is known without
    reading them: None for a tar archive, which is read as a stream."""
    if path.is_dir():
        return sum(
            1
            for directory, _, names in os.walk(path)
            for name in names
            if _wanted(Path(directory, name).relative_to(path).as_posix())
        )
    if _archive_suffix(path) == ".zip":
        with zipfile.ZipFile(path) as archive:
            return sum(1 for i in archive.infolist() if not i.is_dir() and _wanted(i.filename))
    return None if _archive_suffix(path) else 1


MIB = 1024 * 1024
# The largest file a snapshot may hold (uncompressed); a larger one, such as a compression
# bomb, is refused from its declared size before anything is allocated.
MAX_FILE_BYTES = 512 * MIB
# Below this much decompressed data the ratio is not judged: a small file's header
# compresses no worse than a bomb's first blocks.
RATIO_FLOOR_BYTES = 4 * MIB
CHUNK = 1024 * 1024  # bytes read at a time from a decompressor


@dataclass(frozen=True)
class Limits:
    """What a snapshot may cost; each has its setting (korrel8/config.py)."""

    file_bytes: int = MAX_FILE_BYTES  # snapshot_max_file_mb: one file, uncompressed
    document_bytes: int = 256 * MIB  # snapshot_max_document_mb: one YAML or JSON document
    depth: int = 200  # snapshot_max_depth: nesting of lists and maps
    total_bytes: int = 16_384 * MIB  # snapshot_max_total_mb: an archive, decompressed
    ratio: float = 200.0  # snapshot_max_ratio: decompressed to compressed bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            file_bytes=settings.snapshot_max_file_mb * MIB,
            document_bytes=settings.snapshot_max_document_mb * MIB,
            depth=settings.snapshot_max_depth,
            total_bytes=settings.snapshot_max_total_mb * MIB,
            ratio=settings.snapshot_max_ratio,
        )


class _Refused(Exception):
    """Something of the snapshot beyond a limit: the reading stops there, partial."""


class _TooLarge(_Refused):
    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(
            f"file too large: {name}: {size} bytes uncompressed, more than the {limit}-byte "
            "limit (snapshot_max_file_mb setting, KORREL8_SNAPSHOT_MAX_FILE_MB)"
        )


def _check_size(name: str, size: int, limit: int) -> None:
    if size > limit:
        raise _TooLarge(name, size, limit)


class _Counting(io.RawIOBase):
    """A file that counts the bytes read from it (an archive's compressed bytes)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return n or 0


class _Metered(io.RawIOBase):
    """An archive's decompressed stream, checked against the total and ratio limits as it
    is read: a bomb is refused after at most a few MB, whatever it expands to."""

    def __init__(self, name: str, data: BinaryIO, compressed: _Counting, limits: Limits):
        self.name, self.data, self.compressed, self.limits = name, data, compressed, limits
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        chunk = self.data.read(min(len(view), CHUNK))
        n = len(chunk)
        view[:n] = chunk
        self.count += n
        limits = self.limits
        if self.count > limits.total_bytes:
            raise _Refused(
                f"archive too large: {self.name} decompresses to more than "
                f"{limits.total_bytes} bytes (snapshot_max_total_mb setting, "
                "KORREL8_SNAPSHOT_MAX_TOTAL_MB)"
            )
        if self.count > RATIO_FLOOR_BYTES and self.count > limits.ratio * self.compressed.count:
            raise _Refused(
                f"compression bomb? {self.name}: {self.compressed.count} bytes decompressed "
                f"to more than {self.count}, over the {limits.ratio:g}:1 limit "
                "(snapshot_max_ratio setting, KORREL8_SNAPSHOT_MAX_RATIO)"
            )
        return n


# Told by their first bytes, as tarfile's "r|*" does, whatever the file's suffix says.
def _gunzip(fileobj: BinaryIO, mode: str) -> gzip.GzipFile:
    return gzip.GzipFile(fileobj=fileobj, mode=mode)


_DECOMPRESS: dict[bytes, Callable[..., Any]] = {
    b"\x1f\x8b": _gunzip,
    b"BZh": bz2.BZ2File,
    b"\xfd7zXZ\x00": lzma.LZMAFile,
}


def _decompressed(raw: BinaryIO) -> BinaryIO:
    head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
    for magic, open_ in _DECOMPRESS.items():
        if head.startswith(magic):
            return open_(raw, mode="rb")  # type: ignore[no-any-return]
    return raw


# What reading a broken archive raises: cut short (EOFError), corrupt data (zlib's and
# lzma's own errors, OSError from gzip and bz2), a bad tar or zip structure.
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile)


def _files(
    path: Path,
    on_error: OnError | None,
    select: Select = _wanted,
    note: Select = _never,
    limits: Limits | None = None,
) -> Iterator[_File]:
    """Each selected file with its content, and each noted one without, one at a time, in
    a stable order. Anything beyond ``limits`` stops the reading: the load is partial."""
    check(path)
    limits = limits or Limits()
    report = on_error or _raise
    try:
        if path.is_dir():
            yield from _dir_files(path, select, note, limits.file_bytes, report)
        elif path.is_file() and _archive_suffix(path):
            try:
                if _archive_suffix(path) == ".zip":
                    yield from _zip_files(path, select, note, limits)
                else:
                    yield from _tar_files(path, select, note, limits)
            except _UNREADABLE as exc:
                # A truncated or corrupt archive: what was read stays, the load is partial.
                report(SnapshotFormatError(str(path), f"unreadable archive: {exc}"))
        elif select(path.name):
            _check_size(str(path), path.stat().st_size, limits.file_bytes)
            yield _File(str(path), path.name, path.read_bytes())
    except _Refused as exc:
        report(SnapshotFormatError(str(path), str(exc)))


def _dir_files(
    root: Path, select: Select, note: Select, limit: int, report: OnError
) -> Iterator[_File]:
    inside = root.resolve()
    for directory, dirs, names in os.walk(root):  # never into directory symlinks
        dirs.sort()
        for name in sorted(dirs):
            _outside(Path(directory, name), inside, report)
        for name in sorted(names):
            file = Path(directory, name)
            relative = file.relative_to(root).as_posix()
            if not (note(relative) or select(relative)) or _outside(file, inside, report):
                continue
            if note(relative) and file.is_file():
                yield _File(str(file), relative, None)
            elif file.is_file():
                _check_size(str(file), file.stat().st_size, limit)
                yield _File(str(file), relative, file.read_bytes())


def _outside(path: Path, inside: Path, report: OnError) -> bool:
    """A symlink that leaves the snapshot directory: reported (the load is partial, as
    the snapshot lacks what it stands for), never followed."""
    if not path.is_symlink():
        return False
    target = path.resolve()
    if target == inside or inside in target.parents:
        return False
    problem = f"a symlink out of the snapshot (to {target}): not followed"
    report(SnapshotFormatError(str(path), problem))
    return True


def _tar_files(path: Path, select: Select, note: Select, limits: Limits) -> Iterator[_File]:
    with path.open("rb", buffering=0) as raw:
        counting = _Counting(raw)
        with _decompressed(io.BufferedReader(counting)) as data:
            metered = _Metered(str(path), data, counting, limits)
            # Stream mode ("r|"): members are read in archive order, never all at once.
            with tarfile.open(fileobj=metered, mode="r|") as tar:
                yield from _tar_members(path, tar, select, note, limits.file_bytes)


def _tar_members(
    path: Path, tar: tarfile.TarFile, select: Select, note: Select, limit: int
) -> Iterator[_File]:
    for member in tar:
        if not member.isfile():
            continue  # symlinks and hard links too: never followed
        if note(member.name):
            yield _File(f"{path}:{member.name}", member.name, None)
        elif select(member.name):
            _check_size(f"{path}:{member.name}", member.size, limit)
            handle = tar.extractfile(member)
            if handle is not None:
                yield _File(f"{path}:{member.name}", member.name, handle.read())
    # tarfile takes a stream that ends at a member boundary for the end of the archive;
    # only the end-of-archive marker (zero blocks, read past the last member) says the
    # archive is whole. Without it the listing is partial and nothing may be swept.
    if tar.fileobj is not None and tar.fileobj.tell() <= tar.offset:
        raise tarfile.ReadError("it ends without its end-of-archive marker: cut short?")


def _zip_files(path: Path, select: Select, note: Select, limits: Limits) -> Iterator[_File]:
    total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = f"{path}:{info.filename}"
            if note(info.filename):
                yield _File(name, info.filename, None)
            elif select(info.filename):
                # zipfile stops reading at the declared sizes: the checks hold for the data.
                _check_size(name, info.file_size, limits.file_bytes)
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.ratio:
                    raise _Refused(
                        f"compression bomb? {name}: {info.compress_size} bytes decompress to "
                        f"{info.file_size}, over the {limits.ratio:g}:1 limit "
                        "(snapshot_max_ratio setting, KORREL8_SNAPSHOT_MAX_RATIO)"
                    )
                if total > limits.total_bytes:
                    raise _Refused(
                        f"archive too large: {path} decompresses to more than "
                        f"{limits.total_bytes} bytes (snapshot_max_total_mb setting, "
                        "KORREL8_SNAPSHOT_MAX_TOTAL_MB)"
                    )
                yield _File(name, info.filename, archive.read(info))


# --------------------------------------------------------------------------- documents


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML that keeps timestamps as the strings the API sent (as JSON does)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _documents(name: str, data: bytes, limits: Limits | None = None) -> Iterator[Any]:
    """The parsed documents of one file; SnapshotFormatError says where it broke, or
    which limit it is beyond (checked before parsing: libyaml's composer recurses, and a
    YAML nested 100,000 deep would crash the process)."""
    limits = limits or Limits()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SnapshotFormatError(name, "not UTF-8 text", line) from exc
    if name.lower().endswith(".json"):
        if not text.strip():
            return  # an empty answer (must-gather keeps failed requests' output)
        _check_json(name, data, limits)
        try:
            doc = _json_document(text)
        except json.JSONDecodeError as exc:
            problem = f"invalid JSON: {exc.msg}"
            raise SnapshotFormatError(name, problem, exc.lineno, exc.colno) from exc
        except RecursionError as exc:  # a check above missed it: still no crash
            raise SnapshotFormatError(name, _too_deep(limits)) from exc
        yield doc
        return
    try:
        _check_yaml(name, data, text, limits)
        # Lazily: a multi-document file yields its documents one by one.
        yield from yaml.load_all(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        row = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise SnapshotFormatError(name, f"invalid YAML: {problem}", row, column) from exc


def _too_deep(limits: Limits) -> str:
    return (
        f"nested more than {limits.depth} levels deep (snapshot_max_depth setting, "
        "KORREL8_SNAPSHOT_MAX_DEPTH)"
    )


def _too_large(size: int, limits: Limits) -> str:
    return (
        f"a document of {size} bytes, more than the {limits.document_bytes}-byte limit "
        "(snapshot_max_document_mb setting, KORREL8_SNAPSHOT_MAX_DOCUMENT_MB)"
    )


_EMPTY_FLOW = re.compile(rb"\[\s*\]|\{\s*\}")
# Every byte but the brackets and the quote, deleted by bytes.translate (C speed).
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_QUOTED = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\[\]|\{\}")


def _flow_bound(data: bytes) -> int:
    """At least the deepest nesting of ``[`` and ``{`` (each level opens one; only the
    innermost may be empty), at C speed: most files are far below any limit."""
    opens = data.count(b"[") + data.count(b"{")
    return opens - len(_EMPTY_FLOW.findall(data)) + 1 if opens else 0


_JSON = json.JSONDecoder()
_BLANK = " \t\n\r"


class _Items(Sequence[Any]):
    """The items of a JSON List, decoded one at a time as they are read: a List of 50,000
    pods parsed whole held ten times its text in Python objects, growing with the
    cluster; only the text and each item's span are held now."""

    def __init__(self, text: str, spans: list[tuple[int, int]]) -> None:
        self._text, self._spans = text, spans

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._decode(span) for span in self._spans[index]]
        return self._decode(self._spans[index])

    def __iter__(self) -> Iterator[Any]:
        return (self._decode(span) for span in self._spans)

    def _decode(self, span: tuple[int, int]) -> Any:
        return _JSON.raw_decode(self._text, span[0])[0]


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _BLANK:
        at += 1
    return at


def _expect(text: str, at: int, char: str) -> int:
    at = _skip(text, at)
    if not text.startswith(char, at):
        raise json.JSONDecodeError(f"Expecting '{char}' delimiter", text, at)
    return at + 1


def _json_document(text: str) -> Any:
    """The JSON document of ``text``; a top-level object's ``items`` array as _Items.

    The items are decoded once here to find their spans (and any error, with its line),
    then again as they are read."""
    at = _skip(text, 0)
    if not text.startswith("{", at):
        return json.loads(text)
    doc: dict[str, Any] = {}
    at = _skip(text, at + 1)
    if text.startswith("}", at):
        at += 1
    else:
        while True:
            key, at = _JSON.raw_decode(text, _skip(text, at))
            if not isinstance(key, str):
                raise json.JSONDecodeError("Expecting property name", text, at)
            at = _skip(text, _expect(text, at, ":"))
            if key == "items" and text.startswith("[", at):
                spans: list[tuple[int, int]] = []
                at = _skip(text, at + 1)
                if text.startswith("]", at):
                    at += 1
                else:
                    while True:
                        start = at
                        _, at = _JSON.raw_decode(text, start)
                        spans.append((start, at))
                        at = _skip(text, at)
                        if text.startswith("]", at):
                            at += 1
                            break
                        at = _skip(text, _expect(text, at, ","))
                doc[key] = _Items(text, spans)
            else:
                doc[key], at = _JSON.raw_decode(text, at)
            at = _skip(text, at)
            if text.startswith("}", at):
                at += 1
                break
            at = _expect(text, at, ",")
    if _skip(text, at) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip(text, at))
    return doc


def _check_json(name: str, data: bytes, limits: Limits) -> None:
    if len(data) > limits.document_bytes:
        raise SnapshotFormatError(name, _too_large(len(data), limits))
    if _flow_bound(data) <= limits.depth:
        return
    # Exactly: strip the strings and all but brackets, then peel the innermost pairs.
    # Escapes first (an escaped backslash, then an escaped quote), so that what is left
    # of a string is its two quotes and any brackets between them; a regular expression
    # over the whole document cost 10% of a snapshot's load.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _QUOTED.sub(b"", unescaped.translate(None, _NOT_STRUCTURE))
    for _ in range(limits.depth):
        brackets, peeled = _INNERMOST.subn(b"", brackets)
        if not peeled:
            return
    if _INNERMOST.search(brackets):
        raise SnapshotFormatError(name, _too_deep(limits))


def _block_indent(limit: int) -> re.Pattern[bytes]:
    # A line whose indentation (spaces, and the "- " and "? " of compact nested
    # collections) is at least ``limit`` wide.
    return re.compile(rb"^(?:[ ]|[-?](?=[ \r\n]))" + b"{%d}" % limit, re.MULTILINE)


# An alias (``*name``) where YAML allows one; quoted text may match too (then the exact
# check runs and finds none).
_ALIAS = re.compile(rb"(?:^|[\s,\[{])\*[^\s,\[\]{}]")


def _check_yaml(name: str, data: bytes, text: str, limits: Limits) -> None:
    """Refuse a YAML file beyond the limits, or with aliases of lists or maps (a few can
    stand for billions of nodes; kubectl never writes them). Each nested block collection
    is indented deeper than its parent's parent, so indentation bounds the block nesting;
    when that and the flow bound are within the limit, no exact check is needed."""
    # No line indented ``width`` or more: at most 2 x width block levels.
    width = (limits.depth - 1 - _flow_bound(data)) // 2
    if (
        width > 0
        and len(data) <= limits.document_bytes
        and not _block_indent(width).search(data)
        and not _ALIAS.search(data)
    ):
        return
    collections: set[str] = set()  # anchors of lists and maps
    depth, start = 0, None
    events: Iterator[Any] = yaml.parse(text, Loader=_Loader)  # marks: always set here
    for event in events:
        kind = type(event)
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            depth += 1
            if depth > limits.depth:
                mark = event.start_mark
                raise SnapshotFormatError(name, _too_deep(limits), mark.line + 1, mark.column + 1)
            if event.anchor:
                collections.add(event.anchor)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1
        elif kind is yaml.AliasEvent and event.anchor in collections:
            mark = event.start_mark
            problem = f"an alias (*{event.anchor}) of a list or map: not accepted in snapshots"
            raise SnapshotFormatError(name, problem, mark.line + 1, mark.column + 1)
        elif kind is yaml.DocumentStartEvent:
            start = event.start_mark
        elif kind is yaml.DocumentEndEvent and start is not None:
            # Characters, not bytes: within 4x of it, and a bound all the same.
            size = event.end_mark.index - start.index
            if size > limits.document_bytes:
                raise SnapshotFormatError(name, _too_large(size, limits), start.line + 1)


OnEmpty = Callable[[str, str], None]


def _objects(doc: Any, on_empty: OnEmpty | None = None) -> Iterator[Obj]:
    """The Kubernetes objects of one document: itself, or a List's items. An empty typed
    list (``items`` empty, null or left out) is passed to ``on_empty`` as (apiVersion,
    item kind): a listing of that kind that found nothing."""
    if not isinstance(doc, dict):
        return
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    items, meta = doc.get("items"), doc.get("metadata")
    if (
        isinstance(kind, str)
        and kind.endswith("List")
        and (items is None or isinstance(items, (list, _Items)))
        and not (isinstance(meta, dict) and meta.get("name"))
    ):
        # A typed list (PodList, as the API answers) leaves its items' kind out.
        item_kind = kind.removesuffix("List")
        if not items:  # must-gather keeps many (RouteList, items: null)
            if item_kind and isinstance(api_version, str) and on_empty is not None:
                on_empty(api_version, item_kind)
            return
        for item in items:
            if isinstance(item, dict):
                if item_kind and api_version:
                    item.setdefault("kind", item_kind)
                    item.setdefault("apiVersion", api_version)
                yield from _objects(item)
    elif isinstance(kind, str) and isinstance(api_version, str) and isinstance(meta, dict):
        yield doc
    # Anything else (a must-gather's other JSON, a kubeconfig) is not an object: skipped.


# --------------------------------------------------------------------------- kinds


@cache
def _builtin() -> dict[tuple[str, str], KindSpec]:
    return {(spec.group, spec.kind): spec for spec in known_kinds()}


@cache
def _builtin_groups() -> frozenset[str]:
    return frozenset(get_domain("k8s").closed_groups) | _MORE_BUILTIN_GROUPS


def _group_version(obj: Mapping[str, Any]) -> tuple[str, str]:
    group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
    return group, version


def _redact(obj: Obj) -> Obj:
    """What korrel8 may keep of an object: a Secret's or ConfigMap's metadata only, and no
    object's last-applied-configuration (it copies the whole object, data included)."""
    spec = _builtin().get((_group_version(obj)[0], str(obj.get("kind"))))
    meta = {k: v for k, v in obj["metadata"].items() if k != "annotations"}
    annotations = obj["metadata"].get("annotations")
    if spec is not None and spec.metadata_only:
        return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta}
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        return {**obj, "metadata": meta}
    return obj


class _Kinds:
    """Matches objects to KindSpecs; custom ones are made once per kind and scope."""

    def __init__(self) -> None:
        self.custom: dict[tuple[str, str, str, bool], KindSpec] = {}
        self.skipped: dict[str, int] = {}

    def match(self, obj: Obj) -> tuple[KindSpec, Obj] | None:
        """The object's spec and the object as to_row wants it; None: not ingested."""
        group, version = _group_version(obj)
        kind = str(obj.get("kind"))
        spec = self._spec(group, version, kind, bool(obj["metadata"].get("namespace")))
        if spec is None:
            label = f"{kind}.{group}" if group else kind
            self.skipped[label] = self.skipped.get(label, 0) + 1
            return None
        return spec, obj

    def listed(self, api_version: str, kind: str) -> str | None:
        """The class an (empty) listing of ``kind`` lists; None: a kind not ingested."""
        group, _, version = api_version.rpartition("/")
        spec = self._spec(group, version, kind, namespaced=False)
        return spec.class_name if spec is not None else None

    def _spec(self, group: str, version: str, kind: str, namespaced: bool) -> KindSpec | None:
        spec = _builtin().get((group, kind))
        if spec is not None:
            return spec
        if not group or group in _builtin_groups():
            return None
        key = (group, version, kind, namespaced)
        if key not in self.custom:
            self.custom[key] = KindSpec(
                kind=kind, group=group, version=version, plural=_plural(kind),
                namespaced=namespaced, custom=True,
            )  # fmt: skip
        return self.custom[key]


def _plural(kind: str) -> str:
    # Only a guess (kubectl's): a KindSpec needs one, no row uses it.
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    return word + "s"


# --------------------------------------------------------------------------- public reads


def _raise(error: SnapshotFormatError) -> None:
    raise error


@dataclass
class _Found:
    """What one pass finds besides objects."""

    alerts: list[tuple[str, alerts.Saved]] = field(default_factory=list)
    empty_lists: set[tuple[str, str]] = field(default_factory=set)  # (apiVersion, kind)
    logs: dict[snapshot_logs.Container, list[str]] = field(default_factory=dict)


def _scan(
    path: Path, on_error: OnError | None, found: _Found | None, limits: Limits | None = None
) -> Iterator[tuple[str, Obj]]:
    """One pass: the objects; with ``found``, the alerts files' alerts, the empty lists'
    kinds and the log files into it too."""
    note = _is_log if found is not None else _never

    def on_empty(api_version: str, kind: str) -> None:
        if found is not None:
            found.empty_lists.add((api_version, kind))

    for name, relative, data in _files(path, on_error, note=note, limits=limits):
        try:
            if data is None:
                container = snapshot_logs.container_of(relative)
                if found is not None and container is not None:
                    found.logs.setdefault(container, []).append(name)
                continue
            if _is_alerts(relative):
                saved = _alerts(name, data) if found is not None else None
                if saved is not None and found is not None:
                    found.alerts.append((name, saved))
                continue  # iter_objects: not even parsed
            for doc in _documents(name, data, limits):
                for obj in _objects(doc, on_empty):
                    yield name, _redact(obj)
        except SnapshotFormatError as error:
            (on_error or _raise)(error)


def iter_objects(
    path: Path | str, on_error: OnError | None = None, limits: Limits | None = None
) -> Iterator[tuple[str, Obj]]:
    """(source file, object) for every Kubernetes object of the snapshot, with Secrets and
    ConfigMaps cut to their metadata. A file that cannot be parsed, or is beyond
    ``limits``, raises SnapshotFormatError, or, given ``on_error``, is passed to it and the
    rest is read (the objects before the error in a multi-document file are yielded)."""
    return _scan(Path(path), on_error, None, limits)


def iter_alerts(
    path: Path | str, on_error: OnError | None = None
) -> Iterator[tuple[str, alerts.Alert]]:
    """(source file, alert) for every alert of the snapshot's alerts files (see the module
    docstring), each as its file shows it; errors as in iter_objects."""
    for name, _, data in _files(Path(path), on_error, select=_is_alerts):
        try:
            saved = _alerts(name, data or b"")
            for alert in saved.alerts if saved is not None else []:
                yield name, alert
        except SnapshotFormatError as error:
            (on_error or _raise)(error)


def _alerts(name: str, data: bytes) -> alerts.Saved | None:
    """The alerts of one file; None for an empty one (a request must-gather saw fail),
    which is no view of the alerts at all."""
    body: Any = next(_documents(name, data), None)
    return None if body is None else alerts.saved_alerts(name, body)


def cluster_name(path: Path | str, cluster: str | None = None) -> str:
    """``cluster``, else the snapshot's kube-system Namespace UID, else its file name."""
    if cluster is not None and not cluster.strip():
        # An empty name would silently load into a cluster named after the file.
        raise SnapshotError(f"--cluster {cluster!r} is empty: give a name, or leave it out")
    if cluster:
        return cluster
    path = Path(path)

    def mentions_kube_system(name: str) -> bool:
        return _wanted(name) and not _is_alerts(name)

    for name, _, data in _files(path, on_error=lambda error: None, select=mentions_kube_system):
        if data is None or b"kube-system" not in data:
            continue  # most files: not parsed at all
        try:
            for doc in _documents(name, data):
                for obj in _objects(doc):
                    meta = obj["metadata"]
                    if (obj.get("kind"), obj.get("apiVersion"), meta.get("name")) == (
                        "Namespace", "v1", "kube-system",
                    ) and meta.get("uid"):  # fmt: skip
                        return str(meta["uid"])
        except SnapshotFormatError:
            continue  # reported by the load itself
    suffix = _archive_suffix(path)
    name = path.resolve().name
    return name[: -len(suffix)] if suffix else name


# --------------------------------------------------------------------------- ingest


def ingest(
    store: Store,
    path: Path | str,
    cluster: str | None = None,
    *,
    progress: Progress | None = None,
    sweep: bool = True,
    log_convention: str = DEFAULT_LOG_CONVENTION,
    count: FileCounter | None = None,
    max_file_bytes: int | None = None,
    limits: Limits | None = None,
    allow_mass_delete: bool = False,
    guard: mass_delete.Guard | None = None,
) -> Summary:
    """Load a snapshot into the graph (see the module docstring); errors are in the
    summary, and any error means no sweep. Raises SnapshotError if ``path`` is not a
    snapshot at all. ``log_convention``: the ``sources.loki.convention`` the log streams
    are labelled by; ``limits`` bound what is read (``max_file_bytes``, the largest file,
    overrides its ``file_bytes``). A sweep that would mark deleted more than ``guard``'s
    share of a class (default 10%) is held, the summary partial, unless
    ``allow_mass_delete``. ``progress`` gets messages; ``count``, if given, the files and
    objects read so far at each file (then ``progress`` gets no counts)."""
    started = time.monotonic()
    path = Path(path)
    check(path)
    say = progress or (lambda message: None)
    name = cluster_name(path, cluster)
    summary = Summary(SUMMARY_SOURCE, name)
    say(f"loading {path} as cluster {name}")

    errors: list[SnapshotFormatError] = []

    def on_error(error: SnapshotFormatError) -> None:
        errors.append(error)
        summary.errors.append(str(error))
        say(f"error: {error}")

    kinds = _Kinds()
    classes: set[str] = set()
    found = _Found()
    limits = limits or Limits()
    if max_file_bytes is not None:
        limits = replace(limits, file_bytes=max_file_bytes)
    scan = _scan(path, on_error, found, limits)
    rows = _rows(scan, name, kinds, summary, classes, on_error, say, count)
    guard = replace(guard or mass_delete.Guard(), allow=allow_mass_delete, confirm=False)
    if sweep:
        with store.listing(SOURCE, name, classes=[], guard=guard) as listing:
            listing.upsert(rows)
            # Known only now: the sweep covers the classes the snapshot holds (an empty
            # list is a listing that found none), no others.
            classes |= _listed(kinds, found.empty_lists)
            listing.classes = sorted(classes)
            if errors:
                listing.mark_partial(f"{len(errors)} errors in {path}")
        summary.deleted = listing.deleted
        for held in listing.held:
            summary.partial.append(held.message())
            say(f"warning: {held.message()}")
    else:
        store.upsert_nodes(rows)
        classes |= _listed(kinds, found.empty_lists)
    if not classes and not found.alerts and not found.logs and not errors:
        # Loading nothing is never what was meant: a wrong path, or the wrong files.
        summary.errors.append(
            f"{path}: nothing to load: no object of a kind korrel8 lists, no alerts and no "
            "pod logs; expected `kubectl get -o yaml` or `-o json` output, or a must-gather"
        )
        say(f"error: {summary.errors[-1]}")
    if kinds.skipped:
        counts = ", ".join(f"{label} {n}" for label, n in sorted(kinds.skipped.items()))
        say(f"skipped, kinds korrel8 does not list: {counts}")
    if found.alerts:  # else the alerts in the graph are none of this snapshot's business
        # Any error may have hidden an alerts file: then resolve nothing.
        _write_alerts(store, found.alerts, name, summary, complete=not errors, say=say)
    if found.logs:
        _write_logs(store, found.logs, name, summary, log_convention, say)
    summary.seconds = time.monotonic() - started
    return summary


# An object that cannot be converted is reported and skipped; the load goes on, partial.
_SKIPPED: tuple[type[Exception], ...] = (*UNREPRESENTABLE, ParseError)


def _rows(
    objects: Iterator[tuple[str, Obj]],
    cluster: str,
    kinds: _Kinds,
    summary: Summary,
    classes: set[str],
    on_error: OnError,
    say: Progress,
    count: FileCounter | None = None,
) -> Iterator[NodeRow]:
    seen: set[str] = set()  # must-gather holds running pods twice
    files, last = 0, ""
    for source_file, raw in objects:
        if source_file != last:
            files, last = files + 1, source_file
            if count is not None:
                count(files, len(seen))
            elif files % PROGRESS_EVERY == 0:
                say(f"{files} files, {len(seen)} objects")
        matched = kinds.match(raw)
        if matched is None:
            continue
        spec, obj = matched
        meta = obj["metadata"]
        what = f"{spec.class_name} {meta.get('namespace') or ''}/{meta.get('name') or ''}"
        if not meta.get("name"):
            on_error(SnapshotFormatError(source_file, f"{what}: no metadata.name"))
            continue
        try:
            row = to_row(obj, spec, cluster)
        except _SKIPPED as exc:  # an object korrel8 cannot represent
            on_error(SnapshotFormatError(source_file, f"{what}: cannot be stored: {exc}"))
            continue
        if row.ref in seen:
            continue
        seen.add(row.ref)
        classes.add(row.class_name)
        summary.objects[row.class_name] += 1
        yield row
    if count is not None:
        count(files, len(seen))
    else:
        say(f"{files} files, {len(seen)} objects")


def _listed(kinds: _Kinds, empty_lists: Iterable[tuple[str, str]]) -> set[str]:
    """The classes of the empty lists that are kinds korrel8 ingests."""
    listed = (kinds.listed(api_version, kind) for api_version, kind in empty_lists)
    return {cls for cls in listed if cls is not None}


def _write_alerts(
    store: Store,
    found: list[tuple[str, alerts.Saved]],
    cluster: str,
    summary: Summary,
    *,
    complete: bool,
    say: Progress,
) -> None:
    """Write the snapshot's alerts, merged as the live ingester merges Alertmanager's and
    Prometheus' answers; if every alerts file was read, resolve the alerts of this cluster
    it no longer holds, as the live ingester does after a complete view."""

    def of(origin: str) -> list[alerts.Alert]:
        return [alert for _, saved in found if saved.origin == origin for alert in saved.alerts]

    merged = alerts.merge(of(alerts.ALERTMANAGER), of(alerts.PROMETHEUS))
    rows = {row.ref: row for row in (alerts.to_row(alert, cluster) for alert in merged)}
    now = utcnow()
    written = store.upsert_nodes(rows.values(), now=now)
    resolved = 0
    if complete:
        gone = alerts.resolved_rows(alerts.open_alerts(store, cluster), set(rows), now)
        resolved = store.upsert_nodes(gone, now=now)
    summary.objects[str(alerts.CLASS)] += written + resolved
    say(f"alerts: {written} current, {resolved} newly resolved")


def _write_logs(
    store: Store,
    files: dict[snapshot_logs.Container, list[str]],
    cluster: str,
    summary: Summary,
    convention: str,
    say: Progress,
) -> None:
    """Write the log streams of the pod log files. Never swept: a must-gather keeps the
    logs of running pods of some namespaces only."""
    written: Counter[str] = Counter()

    def counted(rows: Iterable[NodeRow]) -> Iterator[NodeRow]:
        for row in rows:
            written[f"{row.domain}:{row.class_name}"] += 1
            yield row

    store.upsert_nodes(counted(snapshot_logs.to_rows(files, cluster, convention)))
    summary.objects.update(written)
    say(f"log streams: {sum(written.values())} containers with log files")
