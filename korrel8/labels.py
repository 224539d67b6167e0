"""One label vocabulary for every source: raw labels to canonical OpenTelemetry keys.

``normalize(labels, domain)`` returns only canonical keys (``k8s.namespace.name``,
``k8s.pod.name``, ``container.id``, ``k8s.pod.label.<key>``...); whoever stores them keeps
the raw labels beside them. ``normalize_verbose`` returns the same map plus the conflicts
(two raw keys that disagree on one canonical key: the higher-ranked source wins) and the
raw keys that were deliberately ignored (labels describing a scraper, not the subject).
Neither ever raises: odd input gives fewer keys, never an exception.

The mapping is data: ``vocabulary.yaml`` beside this module, whose header documents the
format. ``configure([path, ...])`` merges user YAML files over it; ``load_vocabulary``
builds a vocabulary without installing it. A bad file raises ConfigError naming it.

The traps handled (``shared/reference/labels.md``): bare ``namespace``/``pod``/...
that describe kube-state-metrics' or node-exporter's own pod are dropped by the
``scrapers`` rules, and their ``exported_*`` labels read as the subject's own; on other
Prometheus series the plain keys are the scrape target (``k8s.namespace.name``...) and
``exported_namespace``/``exported_pod``/``exported_container`` the object the series is
about (``subject.k8s.namespace.name``...); ``instance`` and ``job`` are never mapped
(neither is a pod nor a Kubernetes Job; KSM's Job is ``job_name``); container ids lose
their ``runtime://`` prefix; bare ``service`` is mapped only where the producer is known.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from korrel8.errors import ConfigError

__all__ = [
    "POD_LABEL_PREFIX",
    "Candidate",
    "Conflict",
    "Normalized",
    "SignalDomain",
    "Vocabulary",
    "configure",
    "infer_domain",
    "load_vocabulary",
    "normalize",
    "normalize_verbose",
    "vocabulary",
]

logger = logging.getLogger(__name__)

SignalDomain = Literal["metric", "alert", "log", "trace", "event"]
SIGNAL_DOMAINS: frozenset[str] = frozenset(get_args(SignalDomain))
POD_LABEL_PREFIX = "k8s.pod.label."

Extract = Literal[
    "owner_kind", "owner_name", "cgroup_container_id", "cgroup_pod_uid", "fieldpath_container"
]
ValueForm = Literal["container_id", "image_name", "kind", "lower"]


# --- the vocabulary file ---------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Model):
    """A canonical key a raw key feeds, with an optional extraction from the value."""

    key: str
    extract: Extract | None = None


MapValue = str | Target | list[Target]


class Source(_Model):
    """One vocabulary: raw keys to canonical keys, with its rank and conditions."""

    name: str
    doc: str = ""
    rank: int
    domains: tuple[SignalDomain, ...] | None = None
    when: dict[str, str] = {}
    unless: tuple[str, ...] = ()
    map: dict[str, MapValue] = {}
    prefixes: dict[str, str] = {}

    @model_validator(mode="after")
    def _check_regexes(self) -> Source:
        for key, pattern in self.when.items():
            _compile(pattern, f"source {self.name}: when.{key}")
        return self


class Subject(_Model):
    """What a scraper's series is about, and which of its own keys belong to it."""

    kind: str
    id: str | None = None
    keys: tuple[str, ...]
    map: dict[str, MapValue] = {}
    prefixes: dict[str, str] = {}

    @property
    def id_key(self) -> str:
        return self.id or self.kind


class Scraper(_Model):
    """An exporter whose target labels describe itself rather than the subject."""

    name: str
    doc: str = ""
    rank: int
    when: dict[str, str]
    own: tuple[str, ...]
    metric_prefix: str | None = None
    subjects: tuple[Subject, ...] = ()
    keep_unknown: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_regexes(self) -> Scraper:
        for key, pattern in self.when.items():
            _compile(pattern, f"scraper {self.name}: when.{key}")
        return self


class InferRule(_Model):
    """Names the signal domain when any of its keys, prefixes or matches hits."""

    domain: SignalDomain
    keys: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    match: dict[str, str] = {}

    @model_validator(mode="after")
    def _check_regexes(self) -> InferRule:
        for key, pattern in self.match.items():
            _compile(pattern, f"infer {self.domain}: match.{key}")
        return self


class Derive(_Model):
    """Derive ``kind_keys[kind]`` = name from a (kind, name) pair of canonical keys."""

    kind: str
    name: str
    rank: int


class VocabularyFile(_Model):
    """One vocabulary YAML file; every section is optional in a user file."""

    version: Literal[1] = 1
    canonical: tuple[str, ...] = ()
    values: dict[str, ValueForm] = {}
    none_values: dict[str, tuple[str, ...]] = {}
    kinds: dict[str, str] = {}
    kind_keys: dict[str, str] = {}
    derive: tuple[Derive, ...] = ()
    pod_label_keys: tuple[str, ...] = ()
    infer: tuple[InferRule, ...] = ()
    strip_prefixes: tuple[str, ...] = ()
    shadows: dict[str, str] = {}
    sources: tuple[Source, ...] = ()
    scrapers: tuple[Scraper, ...] = ()


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{where}: bad regular expression {pattern!r}: {e}") from None


# --- the merged, checked vocabulary ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    target: Target
    source: str
    rank: int
    domains: frozenset[str] | None
    unless: tuple[str, ...]
    when: tuple[tuple[str, re.Pattern[str]], ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """A merged vocabulary, indexed for ``normalize``. Build with ``load_vocabulary``."""

    data: VocabularyFile
    paths: tuple[str, ...]
    exact: Mapping[str, tuple[_Entry, ...]] = field(repr=False)
    prefixes: tuple[tuple[str, _Entry], ...] = field(repr=False)
    pod_label_keys: Mapping[str, str] = field(repr=False)
    kinds: Mapping[str, str] = field(repr=False)

    @property
    def canonical(self) -> frozenset[str]:
        """The canonical keys (besides the ``k8s.pod.label.<key>`` template)."""
        return frozenset(self.data.canonical)


def _merge(base: VocabularyFile, extra: VocabularyFile) -> VocabularyFile:
    def by_name(old: Iterable[Any], new: Iterable[Any]) -> tuple[Any, ...]:
        merged = {item.name: item for item in old}
        merged.update({item.name: item for item in new})
        return tuple(merged.values())

    return VocabularyFile(
        canonical=tuple(dict.fromkeys((*base.canonical, *extra.canonical))),
        values={**base.values, **extra.values},
        none_values={**base.none_values, **extra.none_values},
        kinds={**base.kinds, **extra.kinds},
        kind_keys={**base.kind_keys, **extra.kind_keys},
        derive=(*base.derive, *extra.derive),
        pod_label_keys=tuple(dict.fromkeys((*base.pod_label_keys, *extra.pod_label_keys))),
        infer=(*extra.infer, *base.infer),
        strip_prefixes=tuple(dict.fromkeys((*base.strip_prefixes, *extra.strip_prefixes))),
        shadows={**base.shadows, **extra.shadows},
        sources=by_name(base.sources, extra.sources),
        scrapers=by_name(base.scrapers, extra.scrapers),
    )


def _targets(value: MapValue) -> tuple[Target, ...]:
    if isinstance(value, str):
        return (Target(key=value),)
    return (value,) if isinstance(value, Target) else tuple(value)


def _check(data: VocabularyFile) -> None:
    """Raise ValueError if a mapping points outside the canonical keys."""
    canonical = set(data.canonical)

    def check_key(key: str, where: str) -> None:
        if key not in canonical and not key.startswith(POD_LABEL_PREFIX):
            raise ValueError(f"{where}: {key!r} is not a canonical key")

    def check_maps(name: str, mapping: Mapping[str, MapValue], prefixes: Mapping[str, str]) -> None:
        for raw, value in mapping.items():
            for target in _targets(value):
                check_key(target.key, f"{name}: map.{raw}")
        for raw, prefix in prefixes.items():
            if prefix != POD_LABEL_PREFIX:
                raise ValueError(f"{name}: prefixes.{raw} must map to {POD_LABEL_PREFIX!r}")

    for source in data.sources:
        check_maps(f"source {source.name}", source.map, source.prefixes)
    for scraper in data.scrapers:
        for subject in scraper.subjects:
            check_maps(
                f"scraper {scraper.name} subject {subject.kind}", subject.map, subject.prefixes
            )
    for key in (*data.values, *data.none_values, *data.kind_keys.values()):
        check_key(key, "values/none_values/kind_keys")
    for derive in data.derive:
        check_key(derive.kind, "derive")
        check_key(derive.name, "derive")


def _index(data: VocabularyFile, paths: tuple[str, ...]) -> Vocabulary:
    exact: dict[str, list[_Entry]] = {}
    prefixes: list[tuple[str, _Entry]] = []
    for source in data.sources:
        domains = frozenset(source.domains) if source.domains is not None else None
        when = tuple((key, re.compile(pattern)) for key, pattern in source.when.items())
        for raw, value in source.map.items():
            for target in _targets(value):
                entry = _Entry(target, source.name, source.rank, domains, source.unless, when)
                exact.setdefault(raw, []).append(entry)
        for raw, prefix in source.prefixes.items():
            target = Target(key=prefix)
            entry = _Entry(target, source.name, source.rank, domains, source.unless, when)
            prefixes.append((raw, entry))
    return Vocabulary(
        data=data,
        paths=paths,
        exact={key: tuple(entries) for key, entries in exact.items()},
        prefixes=tuple(prefixes),
        pod_label_keys={_sanitize(key): key for key in data.pod_label_keys},
        kinds={_kind_spelling(k): v for k, v in data.kinds.items()},
    )


def _read(path: Path) -> VocabularyFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read vocabulary file {path}: {e}") from None
    return _parse(text, str(path))


def _parse(text: str, where: str) -> VocabularyFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"vocabulary file {where} is not valid YAML: {e}") from None
    try:
        return VocabularyFile.model_validate(raw or {})
    except ValidationError as e:
        raise ConfigError(f"vocabulary file {where}: {e}") from None


@cache
def _packaged() -> VocabularyFile:
    text = resources.files("korrel8").joinpath("vocabulary.yaml").read_text(encoding="utf-8")
    return _parse(text, "korrel8/vocabulary.yaml")


def load_vocabulary(*extra: Path | str) -> Vocabulary:
    """The packaged vocabulary with the user files ``extra`` merged over it, in order."""
    data = _packaged()
    for path in extra:
        data = _merge(data, _read(Path(path)))
    try:
        _check(data)
    except ValueError as e:
        files = ", ".join(str(p) for p in extra) or "the packaged vocabulary"
        raise ConfigError(f"vocabulary ({files}): {e}") from None
    return _index(data, tuple(str(p) for p in extra))


_active: Vocabulary | None = None


def configure(extra: Sequence[Path | str] = ()) -> Vocabulary:
    """Install the packaged vocabulary plus the user files ``extra`` for ``normalize``."""
    global _active
    _active = load_vocabulary(*extra)
    return _active


def vocabulary() -> Vocabulary:
    """The vocabulary ``normalize`` uses (the packaged one until ``configure``)."""
    global _active
    if _active is None:
        _active = load_vocabulary()
    return _active


# --- values ----------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CGROUP_CONTAINER = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$")
_CGROUP_POD = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_FIELDPATH = re.compile(r"^spec\.(?:initContainers|containers|ephemeralContainers)\{(.+)\}$")
_DIGEST_ONLY = re.compile(r"^sha256:[0-9a-f]+$")


def _extract(how: Extract, value: str) -> str | None:
    if how in ("owner_kind", "owner_name"):
        kind, sep, name = value.partition("/")
        if not sep:
            return None
        return kind if how == "owner_kind" else name
    if how == "cgroup_container_id":
        match = _CGROUP_CONTAINER.search(value)
        return match[1] if match else None
    if how == "cgroup_pod_uid":
        match = _CGROUP_POD.search(value)
        return match[1].replace("_", "-") if match else None
    match = _FIELDPATH.match(value)  # fieldpath_container
    return match[1] if match else None


def _image_name(value: str) -> str | None:
    if _DIGEST_ONLY.match(value):
        return None  # an image id, not a name
    name = value.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _kind_spelling(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _sanitize(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", key)


def _canonical_value(vocab: Vocabulary, key: str, value: str) -> str | None:
    if not value or value in vocab.data.none_values.get(key, ()):
        return None
    form = vocab.data.values.get(key)
    if form == "container_id":
        return _SCHEME.sub("", value).strip().lower() or None
    if form == "image_name":
        return _image_name(value)
    if form == "kind":
        return vocab.kinds.get(_kind_spelling(value), value)
    if form == "lower":
        return value.lower()
    return value


def _equivalent(key: str, a: str, b: str) -> bool:
    # OTel allows abbreviated container ids: a prefix names the same container.
    return a == b or (key == "container.id" and (a.startswith(b) or b.startswith(a)))


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One raw label's claim on a canonical key."""

    raw_key: str
    raw_value: str
    value: str
    source: str
    rank: int

    def __str__(self) -> str:
        return f"{self.value!r} from {self.raw_key} ({self.source}, rank {self.rank})"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Raw labels that disagree on one canonical key; ``chosen`` won."""

    key: str
    chosen: Candidate
    rejected: tuple[Candidate, ...]

    def __str__(self) -> str:
        lost = "; ".join(str(c) for c in self.rejected)
        return f"{self.key}: kept {self.chosen}; rejected {lost}"


@dataclass(frozen=True, slots=True)
class Normalized:
    """The canonical labels, the domain used, the conflicts and the ignored raw keys.

    ``raw_keys``: the raw key each canonical label was read from (a derived one names the
    canonical key it was derived from): a back-end query selects by these names.
    """

    labels: dict[str, str]
    domain: SignalDomain | None
    conflicts: tuple[Conflict, ...] = ()
    ignored: dict[str, str] = field(default_factory=dict)
    raw_keys: dict[str, str] = field(default_factory=dict)


# --- normalize -------------------------------------------------------------------------


def normalize(labels: Mapping[str, str], domain: str | None = None) -> dict[str, str]:
    """Canonical OpenTelemetry keys for ``labels``; conflicts are logged at WARNING.

    ``domain`` is the kind of signal the labels came from: "metric", "alert", "log",
    "trace" or "event"; None infers it. Never raises.
    """
    result = normalize_verbose(labels, domain)
    for conflict in result.conflicts:
        logger.warning("label conflict: %s", conflict)
    return result.labels


def normalize_verbose(
    labels: Mapping[str, str],
    domain: str | None = None,
    *,
    vocab: Vocabulary | None = None,
) -> Normalized:
    """Like ``normalize``, with the conflicts and the ignored raw keys. Never raises."""
    vocab = vocab or vocabulary()
    raw = _string_items(labels)
    signal = _signal_domain(domain) or infer_domain(raw, vocab)
    ignored: dict[str, str] = {}
    view = _view(raw, vocab)
    extra = _apply_scrapers(view, vocab, ignored)
    candidates: dict[str, list[Candidate]] = {}

    def claim(target: Target, raw_key: str, value: str, source: str, rank: int) -> None:
        extracted = _extract(target.extract, value) if target.extract else value
        if extracted is None:
            return
        final = _canonical_value(vocab, target.key, extracted)
        if final is not None:
            candidate = Candidate(raw_key, value, final, source, rank)
            candidates.setdefault(target.key, []).append(candidate)

    for key, (raw_key, value) in view.items():
        for entry in (*vocab.exact.get(key, ()), *extra.exact.get(key, ())):
            if _applies(entry, signal, view):
                claim(entry.target, raw_key, value, entry.source, entry.rank)
        for prefix, entry in (*vocab.prefixes, *extra.prefixes):
            rest = key[len(prefix) :]
            if key.startswith(prefix) and rest and _applies(entry, signal, view):
                label = vocab.pod_label_keys.get(_sanitize(rest), rest)
                claim(
                    Target(key=POD_LABEL_PREFIX + label), raw_key, value, entry.source, entry.rank
                )

    resolved, conflicts, raw_keys = _resolve(candidates)
    for derive in vocab.data.derive:
        kind, name = resolved.get(derive.kind), resolved.get(derive.name)
        derived_key = vocab.data.kind_keys.get(kind or "")
        if derived_key and name:
            source = f"derived from {derive.kind}"
            candidates.setdefault(derived_key, []).append(
                Candidate(derive.name, name, name, source, derive.rank)
            )
    if vocab.data.derive:
        resolved, conflicts, raw_keys = _resolve(candidates)
    return Normalized(resolved, signal, conflicts, ignored, raw_keys)


def infer_domain(labels: Mapping[str, str], vocab: Vocabulary | None = None) -> SignalDomain | None:
    """The signal domain ``labels`` look like they came from, or None."""
    vocab = vocab or vocabulary()
    for rule in vocab.data.infer:
        if any(key in labels for key in rule.keys):
            return rule.domain
        if rule.prefixes and any(key.startswith(rule.prefixes) for key in labels):
            return rule.domain
        for key, pattern in rule.match.items():
            value = labels.get(key)
            if value is not None and re.fullmatch(pattern, value):
                return rule.domain
    return None


def _string_items(labels: Mapping[str, str]) -> dict[str, str]:
    try:
        items = list(labels.items())
    except Exception:  # a broken Mapping must not break ingestion
        logger.warning("labels are not a mapping: %r", type(labels).__name__)
        return {}
    return {k: v for k, v in items if isinstance(k, str) and isinstance(v, str)}


def _signal_domain(domain: str | None) -> SignalDomain | None:
    if domain is None:
        return None
    if domain in SIGNAL_DOMAINS:
        return cast(SignalDomain, domain)
    logger.warning("unknown signal domain %r; inferring it from the labels", domain)
    return None


def _view(raw: dict[str, str], vocab: Vocabulary) -> dict[str, tuple[str, str]]:
    """Effective key -> (raw key, value), after prefix stripping."""
    view = {key: (key, value) for key, value in raw.items()}
    for prefix in vocab.data.strip_prefixes:
        for key, value in raw.items():
            short = key[len(prefix) :]
            if key.startswith(prefix) and short and short not in view:
                view[short] = (key, value)
    return view


def _shadow(view: dict[str, tuple[str, str]], vocab: Vocabulary, ignored: dict[str, str]) -> None:
    """Read each exported_x as x: x describes the scraper, exported_x the subject."""
    for exported, bare in vocab.data.shadows.items():
        if exported in view:
            if bare in view:
                ignored[bare] = f"describes the scrape target: shadowed by {exported}"
            view[bare] = view.pop(exported)


@dataclass
class _Extra:
    exact: dict[str, tuple[_Entry, ...]] = field(default_factory=dict)
    prefixes: tuple[tuple[str, _Entry], ...] = ()


def _apply_scrapers(
    view: dict[str, tuple[str, str]], vocab: Vocabulary, ignored: dict[str, str]
) -> _Extra:
    """Drop the scrapers' own labels from ``view``; return their subjects' mappings."""
    extra = _Extra()
    for scraper in vocab.data.scrapers:
        if not any(
            key in view and re.fullmatch(pattern, view[key][1])
            for key, pattern in scraper.when.items()
        ):
            continue
        _shadow(view, vocab, ignored)
        subject = _subject(scraper, view)
        keep = subject.keys if subject is not None else scraper.keep_unknown
        if any(key in view and view[key][0] != key for key in scraper.own):
            # Scraped without honor_labels: the subject's own labels all arrived as
            # exported_*, so every bare own label is the scrape target's.
            keep = ()
        for key in scraper.own:
            # An exported_* label standing in for `key` is the subject's: keep it.
            if key in view and view[key][0] == key and key not in keep:
                del view[key]
                ignored[key] = f"describes the {scraper.name} scraper, not the subject"
        if subject is not None:
            source = f"{scraper.name} {subject.kind}"
            exact = dict(extra.exact)
            for raw, value in subject.map.items():
                entries = tuple(_Entry(t, source, scraper.rank, None, ()) for t in _targets(value))
                exact[raw] = (*exact.get(raw, ()), *entries)
            prefixes = tuple(
                (raw, _Entry(Target(key=prefix), source, scraper.rank, None, ()))
                for raw, prefix in subject.prefixes.items()
            )
            extra = _Extra(exact, (*extra.prefixes, *prefixes))
    return extra


def _subject(scraper: Scraper, view: Mapping[str, tuple[str, str]]) -> Subject | None:
    metric = view.get("__name__", ("", ""))[1]
    if scraper.metric_prefix and metric.startswith(scraper.metric_prefix):
        rest = metric[len(scraper.metric_prefix) :]
        fitting = [s for s in scraper.subjects if rest.startswith(s.kind + "_")]
        return max(fitting, key=lambda s: len(s.kind), default=None)
    return next((s for s in scraper.subjects if s.id_key in view), None)


def _applies(
    entry: _Entry, signal: SignalDomain | None, view: Mapping[str, tuple[str, str]]
) -> bool:
    # A source meant for some domains stays off when the domain is unknown: bare `name`
    # is an event's subject but cAdvisor's runtime container name.
    if entry.domains is not None and signal not in entry.domains:
        return False
    if entry.when and not any(
        key in view and pattern.fullmatch(view[key][1]) for key, pattern in entry.when
    ):
        return False
    return not any(key in view for key in entry.unless)


def _resolve(
    candidates: Mapping[str, list[Candidate]],
) -> tuple[dict[str, str], tuple[Conflict, ...], dict[str, str]]:
    resolved: dict[str, str] = {}
    raw_keys: dict[str, str] = {}
    conflicts: list[Conflict] = []
    for key in sorted(candidates):
        ranked = sorted(candidates[key], key=lambda c: (-c.rank, c.raw_key))
        chosen = ranked[0]
        resolved[key] = chosen.value
        raw_keys[key] = chosen.raw_key
        rejected = tuple(c for c in ranked[1:] if not _equivalent(key, c.value, chosen.value))
        if rejected:
            conflicts.append(Conflict(key, chosen, rejected))
    return resolved, tuple(conflicts), raw_keys
