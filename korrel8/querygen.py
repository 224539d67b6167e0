"""Back-end queries from canonical labels: LogQL, PromQL and TraceQL selectors.

Each generator takes canonical labels (``korrel8.labels.normalize`` output) and selects
the most specific object they name, ignoring the other keys:

- PromQL (kube-state-metrics convention): the pod (with its container, if given), else
  the replicaset, deployment, statefulset, daemonset, job, cronjob, service, PVC, PV or
  node, else the namespace; namespaced objects carry their namespace. korrel8r's
  ``{namespace="<ns>", <kind>="<name>"}``. Where the plain labels name the scrape target
  and ``exported_*`` the object the series is about (``subject.k8s.*`` keys, see
  ``korrel8/vocabulary.yaml``), both are matched: ``{namespace="olm", pod="olm-operator-x",
  exported_namespace="shop"}``, with an OLM ClusterServiceVersion's ``name``.
- LogQL: log streams are per container, so only namespace, pod and container are used;
  the stream labels are those of a convention (``viaq`` for OpenShift LokiStack,
  ``promtail``, ``otel`` for Loki's OTLP labels), chosen by configuration.
- TraceQL: the same subject as PromQL without the container (span resources seldom carry
  it): ``{resource.k8s.namespace.name="x" && resource.k8s.pod.name="y"}``.

The cluster is matched only when asked (``cluster=True``): a single-cluster back-end often
has no cluster label, and a matcher on a missing label selects nothing.

Values are written as Go double-quoted strings (the string syntax of all three
languages): backslash, double quote, newline, carriage return and tab are escaped, other
non-printable characters become ``\\uXXXX`` / ``\\UXXXXXXXX``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from korrel8.errors import ConfigError, QueryGenerationError
from korrel8.labels import POD_LABEL_PREFIX

__all__ = [
    "KSM_LABELS",
    "LOG_CONVENTIONS",
    "LogConvention",
    "go_quote",
    "logql_selector",
    "promql_selector",
    "subject_keys",
    "traceql_selector",
]

CLUSTER = "k8s.cluster.name"
NAMESPACE = "k8s.namespace.name"
POD = "k8s.pod.name"
CONTAINER = "k8s.container.name"

# Most specific first; the first present names the subject.
_SUBJECTS = (
    POD,
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
    "k8s.service.name",
    "k8s.persistentvolumeclaim.name",
    "k8s.persistentvolume.name",
    "k8s.node.name",
)
_CLUSTER_SCOPED = frozenset({"k8s.persistentvolume.name", "k8s.node.name"})
# What a Prometheus series is about when the scrape target took the plain labels
# (exported_namespace...), and an OLM ClusterServiceVersion's name: matched besides the
# target, in this order; a container only with its pod.
SUBJECT_NAMESPACE = "subject.k8s.namespace.name"
SUBJECT_POD = "subject.k8s.pod.name"
SUBJECT_CONTAINER = "subject.k8s.container.name"
CSV = "k8s.clusterserviceversion.name"

KSM_LABELS: Mapping[str, str] = {
    CLUSTER: "cluster",  # kubernetes-mixin's clusterLabel
    NAMESPACE: "namespace",
    POD: "pod",
    CONTAINER: "container",
    "k8s.replicaset.name": "replicaset",
    "k8s.deployment.name": "deployment",
    "k8s.statefulset.name": "statefulset",
    "k8s.daemonset.name": "daemonset",
    "k8s.job.name": "job_name",  # `job` is the scrape job
    "k8s.cronjob.name": "cronjob",
    "k8s.service.name": "service",
    "k8s.persistentvolumeclaim.name": "persistentvolumeclaim",
    "k8s.persistentvolume.name": "persistentvolume",
    "k8s.node.name": "node",
    SUBJECT_NAMESPACE: "exported_namespace",
    SUBJECT_POD: "exported_pod",
    SUBJECT_CONTAINER: "exported_container",
    CSV: "name",  # csv_succeeded, csv_abnormal (OLM)
}


@dataclass(frozen=True)
class LogConvention:
    """How a log store names its stream labels.

    ``stream_labels``: canonical key -> Loki stream label (namespace, pod, container and,
    optionally, cluster). ``log_type_label``: the stream label holding the log type
    (application, infrastructure, audit), if any. ``pod_label_prefix``: the prefix of the
    (sanitized) pod label keys a label filter can test, if any; ``pod_label_parser``: the
    parser stage that must run first (``json`` for ViaQ records), if any.
    """

    name: str
    stream_labels: Mapping[str, str]
    log_type_label: str | None = None
    pod_label_prefix: str | None = None
    pod_label_parser: str | None = None


LOG_CONVENTIONS: Mapping[str, LogConvention] = {
    # OpenShift LokiStack, ViaQ data model (korrel8r's translation of container selectors).
    "viaq": LogConvention(
        name="viaq",
        stream_labels={
            NAMESPACE: "kubernetes_namespace_name",
            POD: "kubernetes_pod_name",
            CONTAINER: "kubernetes_container_name",
        },
        log_type_label="log_type",
        pod_label_prefix="kubernetes_labels_",
        pod_label_parser="json",
    ),
    # Promtail Helm chart; Grafana k8s-monitoring uses the same names and `cluster`.
    "promtail": LogConvention(
        name="promtail",
        stream_labels={
            CLUSTER: "cluster",
            NAMESPACE: "namespace",
            POD: "pod",
            CONTAINER: "container",
        },
    ),
    # Loki OTLP ingestion: resource attributes with dots replaced by underscores; pod
    # labels land in structured metadata, filterable without a parser.
    "otel": LogConvention(
        name="otel",
        stream_labels={
            CLUSTER: "k8s_cluster_name",
            NAMESPACE: "k8s_namespace_name",
            POD: "k8s_pod_name",
            CONTAINER: "k8s_container_name",
        },
        pod_label_prefix="k8s_pod_label_",
    ),
}

_PROM_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_PROM_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def go_quote(value: str) -> str:
    """``value`` as a Go double-quoted string literal (LogQL, PromQL and TraceQL strings)."""
    out = ['"']
    for char in value:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif 0xD800 <= ord(char) <= 0xDFFF:
            out.append("\\ufffd")  # a lone surrogate has no UTF-8 form: never a real value
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def subject_keys(
    labels: Mapping[str, str],
    *,
    cluster: bool = False,
    container: bool = True,
    exported: bool = True,
) -> list[str]:
    """The canonical keys naming the most specific object in ``labels``, in order.

    ``container``: a pod's container, if given, narrows the pod. ``exported``: the object a
    Prometheus series is about besides its scrape target (``subject.k8s.*``, an OLM CSV)
    narrows it too.
    """
    keys: list[str] = [CLUSTER] if cluster else []
    subject = next((key for key in _SUBJECTS if labels.get(key)), None)
    if subject is None or subject not in _CLUSTER_SCOPED:
        keys.append(NAMESPACE)
    if subject is not None:
        keys.append(subject)
    if subject == POD and container:
        keys.append(CONTAINER)
    if exported:
        keys += [SUBJECT_NAMESPACE, SUBJECT_POD]
        if container and labels.get(SUBJECT_POD):
            keys.append(SUBJECT_CONTAINER)
        keys.append(CSV)
    return [key for key in keys if labels.get(key)]


def promql_selector(
    labels: Mapping[str, str],
    metric: str | None = None,
    *,
    cluster: bool = False,
    label_names: Mapping[str, str] = KSM_LABELS,
) -> str:
    """A PromQL series selector: ``metric{namespace="x", pod="y"}``."""
    matchers = [
        f"{_prom_label(label_names[key])}={go_quote(labels[key])}"
        for key in subject_keys(labels, cluster=cluster)
        if key in label_names
    ]
    if metric is not None and not _PROM_METRIC.match(metric):
        # Prometheus 3 quoted metric name, for UTF-8 names such as OTel's dotted ones.
        matchers.insert(0, go_quote(metric))
        metric = None
    if not matchers and not metric:
        raise QueryGenerationError(f"no PromQL selector for labels {dict(labels)!r}")
    selector = "{" + ", ".join(matchers) + "}" if matchers else ""
    return f"{metric or ''}{selector}"


def logql_selector(
    labels: Mapping[str, str],
    convention: str | LogConvention = "viaq",
    *,
    log_type: str | None = None,
    cluster: bool = False,
    pod_labels: bool = False,
) -> str:
    """A LogQL stream selector for the namespace, pod and container in ``labels``.

    ``log_type`` (application, infrastructure, audit) adds the convention's log type
    matcher; ``pod_labels`` adds a filter per ``k8s.pod.label.*`` key where the
    convention can filter on pod labels.
    """
    conv = _convention(convention)
    keys = [CLUSTER] if cluster else []
    keys += [NAMESPACE, POD, CONTAINER]
    matchers = [
        f"{conv.stream_labels[key]}={go_quote(labels[key])}"
        for key in keys
        if key in conv.stream_labels and labels.get(key)
    ]
    if not labels.get(NAMESPACE) and not labels.get(POD):
        raise QueryGenerationError(
            f"no LogQL stream selector: labels {dict(labels)!r} name no namespace or pod"
        )
    if log_type and conv.log_type_label:
        matchers.append(f"{conv.log_type_label}={go_quote(log_type)}")
    stages = ["{" + ", ".join(matchers) + "}"]
    pod_label_keys = sorted(k for k in labels if k.startswith(POD_LABEL_PREFIX))
    if pod_labels and conv.pod_label_prefix and pod_label_keys:
        if conv.pod_label_parser:
            stages.append(conv.pod_label_parser)
        for key in pod_label_keys:
            name = conv.pod_label_prefix + _loki_safe(key[len(POD_LABEL_PREFIX) :])
            stages.append(f"{name}={go_quote(labels[key])}")
    return " | ".join(stages)


def traceql_selector(labels: Mapping[str, str], *, cluster: bool = False) -> str:
    """A TraceQL span selector on resource attributes: ``{resource.k8s.pod.name="y"}``."""
    # Span resources seldom carry k8s.container.name: match the pod, as korrel8r does.
    keys = subject_keys(labels, cluster=cluster, container=False, exported=False)
    conditions = [f"resource.{key}={go_quote(labels[key])}" for key in keys]
    if not conditions:
        raise QueryGenerationError(f"no TraceQL selector for labels {dict(labels)!r}")
    return "{" + " && ".join(conditions) + "}"


def _convention(convention: str | LogConvention) -> LogConvention:
    if isinstance(convention, LogConvention):
        return convention
    found = LOG_CONVENTIONS.get(convention)
    if found is None:
        known = ", ".join(sorted(LOG_CONVENTIONS))
        raise ConfigError(f"unknown log label convention {convention!r}; known: {known}")
    return found


def _prom_label(name: str) -> str:
    return name if _PROM_NAME.match(name) else go_quote(name)


def _loki_safe(key: str) -> str:
    # Loki label names: the `| json` parser and OTLP both turn other characters into _.
    return re.sub(r"[^A-Za-z0-9_]", "_", key)
