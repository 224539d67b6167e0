"""``korrel8 demo``: the mission's example on a generated cluster, end to end.

1. Generate a cluster (korrel8/cluster_gen.py, seeded: the same every time): the ``shop``
   namespace of the example (Deployments, the ``db`` StatefulSet and its claims, a Job, a
   CronJob, their Services and Events), plus generated namespaces up to ``size`` pods.
2. Write it as a snapshot: ``kubectl get -o json`` Lists, and an ``alerts.json`` in
   Alertmanager's ``/api/v2/alerts`` shape with what kube-prometheus would fire: the
   ``db-0`` claim filling up, every crash-looping container, a throttled one, Watchdog.
3. Load it the way ``korrel8 ingest snapshot`` does, derive the log streams from its pods
   (as ``korrel8 ingest logs`` does without Loki), and apply the rules.
4. Ask for the goals of the filling claim's alert in the log domain, print them with
   the paths that explain them, write the investigation HTML, and print what to paste
   into Neo4j Browser.

The demo owns one cluster, ``korrel8-demo``: a run first deletes that cluster's nodes (and
only those), so re-running gives the same graph whatever ``size`` ran before. Rules run
over the whole graph, as ``korrel8 rules apply --full`` would, with the configured rules.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console

from ingest import alerts, logs
from ingest import snapshot as snapshot_ingest
from ingest.k8s.rows import SOURCE as K8S_SOURCE
from korrel8 import cluster_gen, labels, rules
from korrel8.cluster_gen import Workload
from korrel8.config import LogStoreSettings, Settings
from korrel8.console.output import Column, Table, message, print_table
from korrel8.console.progress import Tracker
from korrel8.correlate import Korrel8
from korrel8.errors import Korrel8Error
from korrel8.graph import localdb, statements
from korrel8.graph.store import Store
from korrel8.render.html import write_html
from korrel8.result import Node, Result
from korrel8.result import Path as ResultPath
from korrel8.rules import runner as rule_runner

__all__ = [
    "CLUSTER",
    "DEFAULT_SIZE",
    "FILLING_CLAIM",
    "NAMESPACE",
    "SHOP",
    "START",
    "Demo",
    "derive_logs",
    "firing_alerts",
    "load",
    "run",
    "write_snapshot",
]

Obj = dict[str, Any]
Progress = Callable[[str], None]

CLUSTER = "korrel8-demo"  # also written in cypher/queries/demo.cypher
NAMESPACE = "shop"
SEED = 8
PREFIX = "acme"  # the generated namespaces: acme-system, acme-cart-000...
# Pods in the whole cluster: 9 namespaces. The run costs about 12 s on a warm Neo4j.
DEFAULT_SIZE = 300
SHOP = (
    Workload("Deployment", "frontend", 3),
    Workload("Deployment", "cart", 2, crash_looping=True),
    Workload("Deployment", "checkout", 2),
    Workload("Deployment", "catalog", 2),
    Workload("StatefulSet", "db", 3),
    Workload("Job", "db-migrate"),
    Workload("CronJob", "backup", 2),
)
FILLING_CLAIM = "data-db-0"  # the db StatefulSet's first claim (volumeClaimTemplate "data")
# The cluster too: a graph may hold another cluster's alert with the same labels.
START = (
    "alert:alert:{alertname: KubePersistentVolumeFillingUp, "
    f"namespace: {NAMESPACE}, persistentvolumeclaim: {FILLING_CLAIM}, cluster: {CLUSTER}}}"
)
GOAL = "log"
# When the snapshot was taken: after every generated creationTimestamp (EPOCH + 30 days).
TAKEN = cluster_gen.EPOCH + timedelta(days=31)
PROMETHEUS = "http://prometheus-k8s.monitoring.svc:9090"
RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks"
# Each demo source's nodes are deleted before a run; these are the sources it writes.
DEMO_SOURCES = (K8S_SOURCE, alerts.SOURCE, logs.SOURCE)


@dataclass(frozen=True)
class Demo:
    """What a run did: the result of the example, and where its files are."""

    result: Result
    objects: dict[str, int]  # written per kind
    alerts: int
    html: Path
    browser_query: str


# --------------------------------------------------------------------------- the snapshot


def write_snapshot(directory: Path, size: int) -> dict[str, int]:
    """The demo cluster of ``size`` pods (at least the shop's) as a snapshot directory;
    returns the objects written per kind (``alerts`` included)."""
    units = cluster_gen.cluster(max(0, size - shop_pods()), seed=SEED, prefix=PREFIX)
    cluster_scoped = next(units)  # the Nodes and StorageClasses come first
    nodes = [o["metadata"]["name"] for o in cluster_scoped if o["kind"] == "Node"]
    shop = cluster_gen.planned_namespace(NAMESPACE, SHOP, seed=SEED, nodes=nodes)
    pods: list[Obj] = []

    def watched(all_units: Iterable[list[Obj]]) -> Iterator[list[Obj]]:
        # The files are written one namespace at a time; the alerts need only some pods.
        for unit in all_units:
            pods.extend(o for o in unit if o["kind"] == "Pod" and _alerting(o))
            yield unit

    counts = cluster_gen.write_files(watched([cluster_scoped, shop, *units]), directory)
    firing = firing_alerts(pods, cluster_scoped)
    (directory / snapshot_ingest.ALERTS_FILE).write_text(json.dumps(firing, indent=1) + "\n")
    return {**counts, "alerts": len(firing)}


def shop_pods() -> int:
    return sum(w.pods for w in SHOP)


def _alerting(pod: Obj) -> bool:
    """A pod that firing_alerts may name: the shop's, and every crash-looping one."""
    return pod["metadata"]["namespace"] == NAMESPACE or any(
        _crash_looping_container(s) for s in pod["status"].get("containerStatuses", [])
    )


def _crash_looping_container(status: Obj) -> bool:
    return bool(status.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff")


def firing_alerts(pods: Iterable[Obj], nodes: Iterable[Obj]) -> list[Obj]:
    """What kube-prometheus would fire on the cluster, as Alertmanager's API lists it,
    with the labels its rules and scrape configs give (shared/reference/labels.md)."""
    by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods}
    db_0 = by_name[(NAMESPACE, "db-0")]
    node_ips = {
        n["metadata"]["name"]: a["address"]
        for n in nodes
        if n["kind"] == "Node"
        for a in n["status"]["addresses"]
        if a["type"] == "InternalIP"
    }
    out = [
        _alert(
            {
                "alertname": "KubePersistentVolumeFillingUp",
                "namespace": NAMESPACE,
                "persistentvolumeclaim": FILLING_CLAIM,
                "severity": "warning",
                # kubelet_volume_stats_* come from the kubelet of the pod's node.
                "job": "kubelet",
                "metrics_path": "/metrics",
                "endpoint": "https-metrics",
                "service": "kubelet",
                "node": db_0["spec"]["nodeName"],
                "instance": f"{node_ips[db_0['spec']['nodeName']]}:10250",
            },
            'kubelet_volume_stats_available_bytes{job="kubelet", metrics_path="/metrics"}'
            ' / kubelet_volume_stats_capacity_bytes{job="kubelet", metrics_path="/metrics"}'
            ' < 0.15 and predict_linear(kubelet_volume_stats_available_bytes{job="kubelet",'
            ' metrics_path="/metrics"}[6h], 4 * 24 * 3600) < 0',
            f"The PersistentVolume claimed by {FILLING_CLAIM} in Namespace {NAMESPACE} is "
            "expected to fill up within four days. Currently 9.3% is available.",
            "PersistentVolume is filling up.",
            minutes=95,
        ),
        _alert(
            {"alertname": "Watchdog", "severity": "none"},
            "vector(1)",
            "An alert that is always firing, to show that the alerting pipeline works.",
            "An alert that should always be firing to certify that Alertmanager is working.",
            minutes=60 * 24 * 30,
        ),
    ]
    for (namespace, name), pod in sorted(by_name.items()):
        for status in pod["status"].get("containerStatuses", []):
            if _crash_looping_container(status):
                out.append(_crash_looping(namespace, name, pod, status["name"]))
    frontend = sorted(n for ns, n in by_name if ns == NAMESPACE and n.startswith("frontend-"))
    if frontend:  # a busy frontend container is throttled by its CPU limit
        pod = by_name[(NAMESPACE, frontend[0])]
        container = pod["spec"]["containers"][0]["name"]
        out.append(
            _alert(
                {
                    "alertname": "CPUThrottlingHigh",
                    "namespace": NAMESPACE,
                    "pod": frontend[0],
                    "container": container,
                    "severity": "info",
                },
                'sum(increase(container_cpu_cfs_throttled_periods_total{container!="",'
                ' job="kubelet", metrics_path="/metrics/cadvisor"}[5m])) by (cluster,'
                " container, pod, namespace) / sum(increase(container_cpu_cfs_periods_total"
                '{job="kubelet", metrics_path="/metrics/cadvisor"}[5m])) by (cluster,'
                " container, pod, namespace) > (25 / 100)",
                f"41% throttling of CPU in namespace {NAMESPACE} for container {container} "
                f"in pod {frontend[0]}.",
                "Processes experience elevated CPU throttling.",
                minutes=25,
            )
        )
    return out


def _crash_looping(namespace: str, name: str, pod: Obj, container: str) -> Obj:
    # kube-state-metrics' series; kube-prometheus drops the scrape target's own
    # namespace/pod labels, so these name the pod itself.
    return _alert(
        {
            "alertname": "KubePodCrashLooping",
            "namespace": namespace,
            "pod": name,
            "container": container,
            "reason": "CrashLoopBackOff",
            "uid": pod["metadata"]["uid"],
            "severity": "warning",
            "job": "kube-state-metrics",
            "instance": "10.244.0.17:8443",
        },
        'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",'
        ' job="kube-state-metrics"}[5m]) >= 1',
        f'Pod {namespace}/{name} ({container}) is in waiting state (reason: "CrashLoopBackOff").',
        "Pod is crash looping.",
        minutes=40,
    )


def _alert(
    labels_: dict[str, str], expr: str, description: str, summary: str, *, minutes: int
) -> Obj:
    """One alert of Alertmanager's /api/v2/alerts answer, as Prometheus sent it."""
    labels_ = {**labels_, "prometheus": "monitoring/k8s"}  # the external label
    starts = TAKEN - timedelta(minutes=minutes)
    runbook = f"{RUNBOOKS}/{_runbook_group(labels_['alertname'])}/{labels_['alertname'].lower()}"
    return {
        "annotations": {"description": description, "runbook_url": runbook, "summary": summary},
        "endsAt": _time(TAKEN + timedelta(minutes=4)),
        "fingerprint": alerts.fingerprint(labels_),
        "receivers": [{"name": "Default"}],
        "startsAt": _time(starts),
        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
        "updatedAt": _time(TAKEN),
        "generatorURL": f"{PROMETHEUS}/graph?{urlencode({'g0.expr': expr, 'g0.tab': '1'})}",
        "labels": dict(sorted(labels_.items())),
    }


def _runbook_group(alertname: str) -> str:
    return "general" if alertname == "Watchdog" else "kubernetes"


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --------------------------------------------------------------------------- the run


def run(
    settings: Settings,
    *,
    size: int = DEFAULT_SIZE,
    html: Path = Path("korrel8-demo.html"),
    snapshot_dir: Path | None = None,
    out: Console | None = None,
    tracker: Tracker | None = None,
    print_report: bool = True,
) -> Demo:
    """Run the demo (see the module docstring) against the configured Neo4j, or the local
    one, started if need be. The report goes to ``out`` (unless ``print_report`` is False:
    then call ``report``), progress to ``tracker`` (none without it)."""
    out = out or Console()
    tracker = tracker or Tracker(None)
    started = time.monotonic()

    def say(text: str) -> None:
        # The elapsed time on each step: where a slow demo spends it.
        tracker.say(f"{time.monotonic() - started:5.1f}s  {text}")

    if size < 1:
        raise Korrel8Error(f"--size {size}: give a number of pods, 1 or more")
    if not settings.neo4j_uri:
        st = localdb.start(settings.local, progress=say)
        if st.new_password:
            message(f"Local Neo4j user neo4j, generated password: {st.new_password}", out)
    labels.configure(settings.vocabularies)  # alerts' labels are normalized with it
    if snapshot_dir is not None and snapshot_dir.exists() and any(snapshot_dir.iterdir()):
        # Its files would load too: a bigger run's ingresses.json, say.
        raise Korrel8Error(f"--snapshot-dir {snapshot_dir} is not empty: give a new directory")
    with tempfile.TemporaryDirectory(prefix="korrel8-demo-") as tmp:
        directory = snapshot_dir or Path(tmp)
        say(f"generating a cluster of {max(size, shop_pods())} pods in {directory}")
        try:
            written = write_snapshot(directory, size)
        except OSError as exc:
            raise Korrel8Error(f"cannot write the demo snapshot in {directory}: {exc}") from exc
        with Store.connect(settings) as store:
            store.apply_schema()
            load(store, directory, settings, say, tracker)
            result = Korrel8(store, max_depth=settings.max_depth).goals(START, GOAL)
    try:
        html.parent.mkdir(parents=True, exist_ok=True)
        write_html(result, html)
    except OSError as exc:
        raise Korrel8Error(f"cannot write {html}: {exc}") from exc
    firing = written.pop("alerts")
    demo = Demo(result, written, firing, html, statements.load("queries/demo").strip())
    if print_report:
        report(demo, settings, out)
    return demo


def load(
    store: Store,
    directory: Path,
    settings: Settings,
    say: Progress,
    tracker: Tracker | None = None,
) -> None:
    """Replace the demo cluster in the graph with the snapshot, its logs and the edges,
    with a bar of the files and one of the rules on ``tracker``."""
    tracker = tracker or Tracker(None)
    deleted = store.run(
        statements.load("store/delete_cluster"),  # type: ignore[arg-type,unused-ignore]
        cluster=CLUSTER,
        sources=list(DEMO_SOURCES),
        batch=store.batch_size,
    )
    if deleted and deleted[0]["deleted"]:
        say(f"deleted the previous demo: {deleted[0]['deleted']} nodes of cluster {CLUSTER}")
    files = tracker.task(
        "loading the snapshot", unit="files", total=snapshot_ingest.file_count(directory)
    )

    def count(read: int, objects: int) -> None:
        files.update(read, note=f"{objects} objects")

    summary = snapshot_ingest.ingest(store, directory, CLUSTER, progress=say, count=count)
    files.finish(f"{sum(summary.objects.values())} nodes")
    if not summary.ok:
        raise Korrel8Error("the demo snapshot did not load: " + "; ".join(summary.errors))
    streams = derive_logs(store, settings.sources.loki)
    say(f"logs: {streams} streams derived from the pods")
    loaded = rules.load(settings.rules.dirs, settings.rules.enable, settings.rules.disable)
    bar = tracker.task("applying the rules", unit="rules", total=sum(r.enabled for r in loaded))
    runs = rule_runner.apply(
        store, loaded, full=True, progress=lambda run: bar.advance(note=run.rule)
    )
    bar.finish(f"{sum(r.edges for r in runs)} edges")


def derive_logs(store: Store, loki: LogStoreSettings) -> int:
    """The demo pods' log streams, labelled as the configured log store labels them.

    Not ``logs.ingest``: without a Loki URL it derives every cluster's streams from its
    pods, which would replace the Loki streams of a real cluster in the same graph."""
    convention = logs.querygen_convention(loki.convention)
    pods = [p for p in logs.pods(store) if p.cluster == CLUSTER]
    rows = logs.to_rows(logs.pod_streams(pods, convention), convention, loki.convention)
    with store.listing(logs.SOURCE, CLUSTER, classes=list(logs.LOG_TYPES)) as listing:
        return listing.upsert(rows)


# --------------------------------------------------------------------------- the report


def report(demo: Demo, settings: Settings, out: Console) -> None:
    """The example's answer: the log streams, the paths that explain them, where to look."""
    result = demo.result
    pods, namespaces = demo.objects.get("Pod", 0), demo.objects.get("Namespace", 0)
    message(
        f"Cluster {CLUSTER}: {pods} pods in {namespaces} namespaces, "
        f"{demo.alerts} firing alerts, loaded as a snapshot.",
        out,
    )
    message(f"\nThe logs of the pods that mount the filling claim {FILLING_CLAIM}:", out)
    message(f"  korrel8 goals '{START}' {GOAL}\n", out)
    columns = [Column("pod"), Column("container"), Column("class"), Column("LogQL")]
    table = Table("Goals: log streams", columns)
    for node in sorted(result.goals, key=lambda n: n.ref):
        data = node.data_query
        table.add(
            _prop(node, "k8s.pod.name"),
            _prop(node, "k8s.container.name"),
            node.class_,
            data.query if data else node.ref,
        )
    print_table(table, out)
    message("Explanation: each path, with the rule that made each edge", out)
    for path in sorted(result.paths, key=lambda p: p.refs):
        message(explain(result, path), out)
    message(f"\nInvestigation graph (open it in a browser): {demo.html}", out)
    if settings.neo4j_uri:
        message(f"\nIn Neo4j Browser of {settings.neo4j_uri}, paste:", out)
    else:
        st = localdb.status(settings.local)
        state = st.data_dir / "state.json"
        message(f"\nNeo4j Browser: {st.browser_url} (user neo4j, password in {state}); paste:", out)
    message(demo.browser_query, out)


def explain(result: Result, path: ResultPath) -> str:
    """``start -[VERB rule]-> next ...``: one path, one line per edge."""
    lines = [_caption(result.nodes[path.refs[0]])]
    for edge, ref in zip(path.edges, path.refs[1:], strict=True):
        lines.append(f"  -[{edge.type} {edge.rule}]-> {_caption(result.nodes[ref])}")
    return "\n".join(lines)


def _caption(node: Node) -> str:
    where = f"{node.namespace}/" if node.namespace else ""
    return f"{node.class_} {where}{node.title}"


def _prop(node: Node, key: str) -> str:
    value = node.properties.get(key)
    return value if isinstance(value, str) else ""
