"""The signal model: domains, classes, queries and refs, in korrel8r's syntax.

Syntax::

    class   DOMAIN:CLASS             k8s:Pod  k8s:Deployment.apps  log:application
    query   DOMAIN:CLASS:SELECTOR    k8s:Pod:{namespace: shop, name: db-0}
                                     log:application:{kubernetes_namespace_name="shop"}

The domains and their classes are data (``domains.yaml`` beside this module).

Selectors
    A map (YAML or JSON, korrel8r's fields: ``namespace``, ``name``, ``labels``, ``fields``
    for k8s; any label for alert), a list of maps where the domain allows it (alert: match
    any), or, in the log, metric and trace domains, a raw LogQL / PromQL / TraceQL string
    kept verbatim. A ``{`` selector is raw when its first key is followed by a matcher
    (``=``, ``!=``, ``=~``...) rather than by ``: `` or ``":"``. Every scalar in a map is a
    string, as Kubernetes names and label values are: ``{name: 0123}`` names ``"0123"``.

k8s classes
    ``Kind`` (core group) or ``Kind.group``; korrel8r's versioned spellings
    ``Kind.version.group`` and ``Kind.version.`` (core: ``Pod.v1.``, ``Event.v1.``) are
    aliases, the version dropped, since an object is the same object in every version.
    ``k8s:Event`` is the core/v1 Event (``involvedObject``), ``k8s:Event.events.k8s.io``
    the events API's (``regarding``), as in korrel8r.
    A core-less ``Kind`` that is known in exactly one group resolves to it
    (``k8s:Deployment`` is ``k8s:Deployment.apps``). A well-formed ``Kind.group`` in a
    group that is not built in is a custom resource and is accepted.

ref
    The unique key of a node: the canonical query that finds exactly that object,
    ``DOMAIN:CLASS:`` + the selector as JSON with sorted keys, compact separators and
    non-ASCII kept, the cluster included under the selector key ``cluster``::

        k8s:Pod:{"cluster":"prod","name":"db-0","namespace":"shop"}

    ``str(Query.parse(r)) == r`` for every ref ``r``, and ``Query.parse(str(q)) == q``
    for every query ``q``.

Neo4j labels
    ``Domain.label``: ``K8s``, ``Alert``, ``Log``, ``Metric``, ``Trace``.
    ``Class.label``: the Kind for k8s (``Pod``, ``Deployment``), else the class name in
    CamelCase (``Application``, ``Alert``, ``Metric``, ``Span``). A class label alone can
    be ambiguous (``Application.argoproj.io`` vs ``log:application``; two CRD groups with
    one Kind): match on the domain label too, or on the ``class`` property.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from korrel8.errors import ParseError, UnknownClassError, UnknownDomainError

__all__ = [
    "Class",
    "Domain",
    "Query",
    "Selector",
    "SelectorMap",
    "domains",
    "get_domain",
    "is_cypher_label",
    "parse_goal",
    "ref",
]

SelectorValue = str | list[str] | dict[str, str]
SelectorMap = dict[str, SelectorValue]
Selector = SelectorMap | list[SelectorMap] | str
KeyType = Literal["string", "map", "list"]

_CYPHER_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# korrel8r's KIND[.VERSION][.GROUP]; the version is the optional segment after the kind.
# korrel8r writes a core class with an empty group after its version: Pod.v1.
_K8S_CLASS = re.compile(
    r"^(?P<kind>[^./]+)(?:\.(?P<version>v[0-9]+(?:(?:alpha|beta)[0-9]*)?))?(?:\.(?P<group>.*))?$"
)
_GENERIC_CLASS = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def is_cypher_label(text: str) -> bool:
    """True if ``text`` may be used as a Neo4j label without quoting."""
    return bool(_CYPHER_LABEL.match(text))


class Domain(BaseModel):
    """A kind of signal or object, with its known classes and selector rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: str
    classes: tuple[str, ...]
    open_classes: bool = False
    raw: bool = False
    any_of: bool = False
    selector_keys: dict[str, KeyType] | None = None
    closed_groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_label(self) -> Domain:
        if not is_cypher_label(self.label):
            raise ValueError(f"domain {self.name}: label {self.label!r} is not a Cypher label")
        return self

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name


@cache
def _registry() -> dict[str, Domain]:
    text = resources.files("korrel8").joinpath("domains.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {name: Domain(name=name, **spec) for name, spec in data["domains"].items()}


def domains() -> tuple[Domain, ...]:
    """Every known domain, sorted by name."""
    return tuple(sorted(_registry().values(), key=lambda d: d.name))


def get_domain(name: str) -> Domain:
    """The domain called ``name``; UnknownDomainError lists the known ones."""
    found = _registry().get(name)
    if found is None:
        known = ", ".join(sorted(_registry()))
        what = f"unknown domain {name!r}" if name else "missing domain"
        raise UnknownDomainError(f"{what}; known domains: {known}")
    return found


class Class(BaseModel):
    """A class of objects, ``DOMAIN:CLASS``. Construction canonicalizes the name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    name: str

    @model_validator(mode="before")
    @classmethod
    def _canonicalize(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("domain"), str):
            domain = get_domain(data["domain"])
            name = data.get("name")
            if isinstance(name, str):
                return {**data, "name": _canonical_class_name(domain, name)}
        return data

    @classmethod
    def parse(cls, text: str) -> Class:
        """Parse ``DOMAIN:CLASS``."""
        domain, sep, name = text.partition(":")
        if not sep:
            raise ParseError(f"expected DOMAIN:CLASS, got {text!r}")
        if ":" in name:
            raise ParseError(f"a class has no selector; {text!r} looks like a query")
        return cls(domain=domain, name=name)

    @property
    def kind(self) -> str:
        """The Kubernetes kind for k8s classes; the class name otherwise."""
        return self.name.partition(".")[0] if self.domain == "k8s" else self.name

    @property
    def group(self) -> str:
        """The Kubernetes API group ("" for core) for k8s classes; "" otherwise."""
        return self.name.partition(".")[2] if self.domain == "k8s" else ""

    @property
    def label(self) -> str:
        """The Neo4j label of the class (see the module docstring)."""
        return self.kind if self.domain == "k8s" else _camel(self.name)

    @property
    def domain_label(self) -> str:
        """The Neo4j label of the class's domain."""
        return get_domain(self.domain).label

    def __str__(self) -> str:
        return f"{self.domain}:{self.name}"


def parse_goal(text: str) -> Domain | Class:
    """A goal: a bare domain (``log``: every class of it) or a class (``log:audit``)."""
    return Class.parse(text) if ":" in text else get_domain(text)


class Query(BaseModel):
    """``DOMAIN:CLASS:SELECTOR``. ``str(query)`` is the canonical form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    class_: Class
    selector: Selector

    @field_validator("selector")
    @classmethod
    def _strip(cls, selector: Selector) -> Selector:
        # The canonical raw selector has no surrounding blanks.
        return selector.strip() if isinstance(selector, str) else selector

    @model_validator(mode="after")
    def _check_selector(self) -> Query:
        _check_selector(get_domain(self.class_.domain), self.selector)
        return self

    @classmethod
    def parse(cls, text: str) -> Query:
        """Parse ``DOMAIN:CLASS:SELECTOR``; errors name the position in ``text``."""
        domain_end = text.find(":")
        if domain_end < 0:
            raise ParseError(_where(f"expected DOMAIN:CLASS:SELECTOR, got {text!r}", text, 0))
        class_end = text.find(":", domain_end + 1)
        if class_end < 0:
            message = "missing selector: expected DOMAIN:CLASS:SELECTOR"
            raise ParseError(_where(message, text, len(text)))
        try:
            class_ = Class(domain=text[:domain_end], name=text[domain_end + 1 : class_end])
        except ParseError as e:
            position = 0 if isinstance(e, UnknownDomainError) else domain_end + 1
            raise type(e)(_where(str(e), text, position)) from None
        domain = get_domain(class_.domain)
        start = class_end + 1
        selector = _parse_selector(domain, text, start)
        try:
            return cls(class_=class_, selector=selector)
        except ParseError as e:
            raise type(e)(_where(str(e), text, start)) from None

    @property
    def cluster(self) -> str | None:
        """The ``cluster`` key of a map selector, if any."""
        value = self.selector.get("cluster") if isinstance(self.selector, dict) else None
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        selector = self.selector
        text = selector if isinstance(selector, str) else _canonical_json(selector)
        return f"{self.class_}:{text}"

    def __hash__(self) -> int:
        return hash(str(self))


def ref(class_: Class | str, selector: Mapping[str, SelectorValue | None], cluster: str) -> str:
    """The ref of one object: its canonical query, with ``cluster`` in the selector.

    Keys whose value is None or "" are left out, so a cluster-scoped object can be
    given ``namespace=None``.
    """
    if not cluster:
        raise ValueError("a ref needs a non-empty cluster")
    cls = class_ if isinstance(class_, Class) else Class.parse(class_)
    selector_map: SelectorMap = {k: v for k, v in selector.items() if v is not None and v != ""}
    selector_map["cluster"] = cluster
    # str(Query(...)) without building the model (once per ingested object): the same
    # check, the same text.
    _check_selector(get_domain(cls.domain), selector_map)
    return f"{cls}:{_canonical_json(selector_map)}"


# --- classes ---------------------------------------------------------------------------


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def _canonical_class_name(domain: Domain, name: str) -> str:
    if not name:
        raise ParseError(f"missing class name after {domain.name!r}:")
    if domain.name == "k8s":
        return _canonical_k8s_class(domain, name)
    if name in domain.classes:
        return name
    if domain.open_classes and _GENERIC_CLASS.match(name):
        return name
    raise UnknownClassError(_unknown_class(domain, name))


def _unknown_class(domain: Domain, name: str, why: str = "") -> str:
    known = [f"{domain.name}:{c}" for c in domain.classes]
    wanted = f"{domain.name}:{name}"
    message = f"unknown class {wanted}{why}"
    # A case slip (k8s:pod) has one answer; otherwise offer the close spellings, closest
    # first.
    suggestions = [k for k in known if k.lower() == wanted.lower()]
    if not suggestions:
        by_lower = {k.lower(): k for k in known}
        close = difflib.get_close_matches(wanted.lower(), list(by_lower))
        suggestions = [by_lower[c] for c in close]
    if suggestions:
        message += "; did you mean " + " or ".join(suggestions) + "?"
    elif not domain.open_classes:
        message += "; known classes: " + ", ".join(known)
    return message


def _canonical_k8s_class(domain: Domain, name: str) -> str:
    match = _K8S_CLASS.match(name)
    if match is None:
        raise ParseError(f"ill-formed Kubernetes class {name!r}: expected Kind or Kind.group")
    kind, group = match["kind"], match["group"] or ""
    full = f"{kind}.{group}" if group else kind  # messages name it without the version
    if not _KIND.match(kind):
        if any(c.split(".")[0].lower() == kind.lower() for c in domain.classes):
            raise UnknownClassError(_unknown_class(domain, full))
        raise ParseError(
            f"ill-formed Kubernetes kind {kind!r}: a kind is letters and digits,"
            " starting with an upper-case letter (Pod, Deployment.apps)"
        )
    if group and not _DNS_SUBDOMAIN.match(group):
        raise ParseError(
            f"ill-formed Kubernetes API group {group!r}: a group is a lower-case DNS name"
            " (apps, networking.k8s.io)"
        )
    if full in domain.classes:
        return full
    if not group:
        grouped = [c for c in domain.classes if c.split(".", 1)[0] == kind]
        if len(grouped) == 1:
            return grouped[0]
        if grouped:
            choices = " or ".join(f"k8s:{c}" for c in grouped)
            raise UnknownClassError(f"ambiguous class k8s:{kind}: write {choices}")
        why = " (a custom resource needs its group: Kind.group)"
        raise UnknownClassError(_unknown_class(domain, full, why))
    if group in domain.closed_groups:
        raise UnknownClassError(_unknown_class(domain, full, f" (no kind {kind} in {group})"))
    return full


# --- selectors -------------------------------------------------------------------------


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _where(message: str, text: str, offset: int) -> str:
    """``message`` with the line and column of ``offset`` in ``text`` and a caret."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    line_no = text.count("\n", 0, offset) + 1
    column = offset - line_start + 1
    return f"{message} (line {line_no}, column {column})\n  {line}\n  {' ' * (column - 1)}^"


_TOKEN_END = set(" \t\r\n:=!~<>,{}&|\"'()")


def _looks_raw(text: str) -> bool:
    """True if ``text`` is a back-end query rather than a YAML/JSON selector."""
    if text[0] == "[":
        return False
    if text[0] != "{":
        return True  # metric_name{...}, rate(...), trace ids...
    i = _skip_blanks(text, 1)
    if i >= len(text) or text[i] == "}":
        return False
    if text[i] in "\"'":
        end = _quoted_end(text, i)
        i = _skip_blanks(text, end)
        return not text.startswith(":", i)
    j = i
    while j < len(text) and text[j] not in _TOKEN_END:
        j += 1
    if j == i:
        return True
    k = _skip_blanks(text, j)
    # A YAML flow key is followed by ": " (or ":" then a flow indicator / the end).
    is_yaml_key = text.startswith(":", k) and (k + 1 == len(text) or text[k + 1] in " \t\r\n,}")
    return not is_yaml_key


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _quoted_end(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)


class _StringLoader(yaml.SafeLoader):
    """SafeLoader whose plain scalars are all strings and whose maps reject duplicates."""


_StringLoader.yaml_implicit_resolvers = {}
# An empty plain scalar (`{name: }`) is a missing value, not the name "".
_StringLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, "selector keys must be strings", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StringLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


# Bounds checked before a selector is parsed: nothing a user writes by hand comes near them,
# and the parsers recurse per level of nesting.
MAX_SELECTOR = 64 * 1024
MAX_NESTING = 32


def _nesting_error(text: str) -> tuple[str, int] | None:
    """A message and position if ``text`` nests brackets deeper than MAX_NESTING (brackets
    inside double-quoted strings do not count)."""
    depth, quoted, escaped = 0, False, False
    for i, char in enumerate(text):
        if quoted:
            escaped, quoted = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return f"selector nested deeper than {MAX_NESTING} levels", i
        elif char in "]}":
            depth -= 1
    return None


def _parse_selector(domain: Domain, query: str, start: int) -> Selector:
    text = query[start:]
    stripped = text.strip()
    offset = start + len(text) - len(text.lstrip())
    if not stripped:
        message = "empty selector; write {} to select every object of the class"
        raise ParseError(_where(message, query, start))
    if len(stripped) > MAX_SELECTOR:
        message = f"selector of {len(stripped)} characters: at most {MAX_SELECTOR}"
        raise ParseError(_where(message, query, offset))
    nesting = _nesting_error(stripped)
    if nesting is not None:
        raise ParseError(_where(nesting[0], query, offset + nesting[1]))
    if _looks_raw(stripped):
        if domain.raw:
            return stripped
        message = (
            f"{domain.name} selectors are YAML/JSON maps such as {{namespace: x, name: y}},"
            " not query strings"
        )
        raise ParseError(_where(message, query, offset))
    try:
        value = json.loads(
            stripped,
            object_pairs_hook=_json_pairs,
            parse_int=str,
            parse_float=str,
            parse_constant=str,
        )
    except ValueError:
        try:
            value = yaml.load(stripped, Loader=_StringLoader)  # a SafeLoader: no objects
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            position = offset + (mark.index if mark is not None else 0)
            problem = e.problem or e.context or "malformed YAML"
            raise ParseError(_where(f"malformed selector: {problem}", query, position)) from None
        except yaml.YAMLError as e:
            raise ParseError(_where(f"malformed selector: {e}", query, offset)) from None
        except RecursionError:  # block nesting ("- - - ...") that the bracket count misses
            message = f"selector nested deeper than {MAX_NESTING} levels"
            raise ParseError(_where(message, query, offset)) from None
    try:
        return _to_selector(value)
    except ParseError as e:
        raise ParseError(_where(str(e), query, offset)) from None


def _to_selector(value: object) -> SelectorMap | list[SelectorMap]:
    if isinstance(value, dict):
        return {key: _to_value(key, item) for key, item in value.items()}
    if isinstance(value, list):
        maps: list[SelectorMap] = []
        for item in value:
            if not isinstance(item, dict):
                raise ParseError("a list selector holds maps only")
            maps.append({key: _to_value(key, v) for key, v in item.items()})
        return maps
    raise ParseError("the selector must be a map, {key: value, ...}")


def _to_value(key: str, value: object) -> SelectorValue:
    if isinstance(value, dict):
        return {str(k): _scalar(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scalar(key, v) for v in value]
    return _scalar(key, value)


def _scalar(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if value is None:
        raise ParseError(f"selector key {key!r} has no value")
    raise ParseError(f"selector key {key!r}: nested value is too deep; expected a string")


def _check_selector(domain: Domain, selector: Selector) -> None:
    """Raise ParseError if ``selector`` does not fit ``domain``'s rules."""
    if isinstance(selector, str):
        if not domain.raw:
            raise ParseError(f"{domain.name} selectors are maps, not query strings")
        if not selector.strip():
            raise ParseError("empty selector")
        return
    if isinstance(selector, list):
        if not domain.any_of:
            raise ParseError(f"a list selector is not allowed in domain {domain.name}")
        for item in selector:
            _check_map(domain, item)
        return
    _check_map(domain, selector)


def _check_map(domain: Domain, selector: SelectorMap) -> None:
    allowed = domain.selector_keys
    for key, value in selector.items():
        if allowed is None:
            if not isinstance(value, str):
                raise ParseError(f"{domain.name} selector key {key!r} must have a string value")
            continue
        expected = allowed.get(key)
        if expected is None:
            message = f"unknown {domain.name} selector key {key!r}"
            close = difflib.get_close_matches(key, allowed)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            raise ParseError(f"{message}; allowed keys: {', '.join(sorted(allowed))}")
        if _key_type(value) != expected:
            raise ParseError(f"{domain.name} selector key {key!r} must be a {expected}")


def _key_type(value: SelectorValue) -> KeyType:
    if isinstance(value, dict):
        return "map"
    return "list" if isinstance(value, list) else "string"
