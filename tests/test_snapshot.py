"""Offline snapshots (ingest/snapshot.py): a must-gather directory, a .tar.gz of kubectl
Lists with an alerts.json, and the CLI, against a real Neo4j."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer import Typer
from typer.testing import CliRunner

from ingest import alerts
from ingest.k8s.kinds import builtin_kinds
from ingest.snapshot import _Items, _json_document, cluster_name, ingest, iter_alerts, iter_objects
from ingest.snapshot_cli import register
from korrel8 import cluster_gen
from korrel8.errors import SnapshotError, SnapshotFormatError
from korrel8.graph.store import Store
from korrel8.model import ref
from tests.graph import node, nodes
from tests.servers.neo4j import Neo4jServer

Obj = dict[str, Any]
KUBE_SYSTEM_UID = "5f0c3a4e-0000-4000-8000-00000000c1a5"
SECRET_VALUE = "top-secret-value"
SECRET_B64 = "dG9wLXNlY3JldC12YWx1ZQ=="  # SECRET_VALUE in base64
IMAGE_DIR = "quay-io-openshift-release-dev-ocp-v4-0-art-dev-sha256-0123abcd"
SPECS = {spec.kind: spec for spec in builtin_kinds()}


# --------------------------------------------------------------------------- snapshots


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``kubectl get -o json`` Lists of a generated cluster, one file per kind."""
    directory = tmp_path_factory.mktemp("kubectl")
    cluster_gen.write_files(cluster_gen.cluster(pods=60, seed=1), directory)
    return directory


def generated(lists: Path) -> Iterator[Obj]:
    for file in sorted(lists.glob("*.json")):
        yield from json.loads(file.read_text())["items"]


def write_yaml(path: Path, *docs: Obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=False))


def secret_with_data(namespace: str) -> Obj:
    last_applied = {"apiVersion": "v1", "kind": "Secret", "stringData": {"token": SECRET_VALUE}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db-credentials",
            "namespace": namespace,
            "uid": "0d5e1f00-0000-4000-8000-000000000001",
            "labels": {"app": "db"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last_applied)
            },
        },
        "type": "Opaque",
        "data": {"token": SECRET_B64},
        "stringData": {"token": SECRET_VALUE},
    }


def custom_resources(namespace: str) -> list[Obj]:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": namespace, "uid": "0d5e1f00-0000-4000-8000-0002"},
        "spec": {"configMapName": "w1-config"},
    }
    operator = {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ClusterOperator",
        "metadata": {"name": "monitoring", "uid": "0d5e1f00-0000-4000-8000-000000000003"},
    }
    return [widget, operator]


def must_gather(root: Path, lists: Path) -> Path:
    """The generated cluster laid out as ``oc adm must-gather`` writes it (see the
    docstring of ingest/snapshot.py), with the extras the tests look for. Returns the
    image directory's path."""
    base = root / "must-gather.local.5519406226283186547" / IMAGE_DIR
    cluster_scoped = base / "cluster-scoped-resources"
    namespaced: dict[tuple[str, str, str], list[Obj]] = {}
    for obj in generated(lists):
        spec, meta = SPECS[obj["kind"]], obj["metadata"]
        group = spec.group or "core"
        if obj["kind"] == "Namespace":
            write_yaml(base / "namespaces" / meta["name"] / f"{meta['name']}.yaml", obj)
        elif meta.get("namespace"):
            namespaced.setdefault((meta["namespace"], group, spec.plural), []).append(obj)
        else:  # cluster-scoped: one object per file
            write_yaml(cluster_scoped / group / spec.plural / f"{meta['name']}.yaml", obj)
        if obj["kind"] == "Pod" and obj["status"].get("phase") == "Running":
            # Running pods again, beside their containers' logs and endpoint dumps.
            pod_dir = base / "namespaces" / meta["namespace"] / "pods" / meta["name"]
            write_yaml(pod_dir / f"{meta['name']}.yaml", obj)
            container = obj["spec"]["containers"][0]["name"]
            logs = pod_dir / container / container / "logs"
            logs.mkdir(parents=True)
            (logs / "current.log").write_text("2026-01-01T00:00:00Z started\n")
            (pod_dir / container / container / "metrics.json").write_text("# TYPE up gauge\n")
    for (namespace, group, plural), objs in namespaced.items():
        if plural == "pods":  # as the API answers: a typed list, items without kind
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in objs]
            doc = {"apiVersion": "v1", "kind": "PodList", "items": items}
        else:
            doc = {"apiVersion": "v1", "kind": "List", "items": objs}
        write_yaml(base / "namespaces" / namespace / group / f"{plural}.yaml", doc)

    ns = sorted(key[0] for key in namespaced)[0]
    kube_system = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kube-system", "uid": KUBE_SYSTEM_UID},
    }
    write_yaml(base / "namespaces" / "kube-system" / "kube-system.yaml", kube_system)
    write_yaml(base / "namespaces" / ns / "core" / "secrets-extra.yaml", secret_with_data(ns))
    widget, operator = custom_resources(ns)
    write_yaml(base / "namespaces" / ns / "example.com" / "widgets.yaml", widget)
    operators = cluster_scoped / "config.openshift.io" / "clusteroperators"
    write_yaml(operators / "monitoring.yaml", operator)
    # Kinds korrel8 does not list.
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "x", "namespace": ns},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": ns},
    }
    write_yaml(base / "namespaces" / ns / "core" / "endpoints.yaml", endpoints)
    write_yaml(base / "namespaces" / ns / "rbac.authorization.k8s.io" / "roles.yaml", role)
    # Files of a must-gather that are not objects.
    (base / "timestamp").write_text("2026-01-01 00:00:00 +0000 UTC\n")
    (base / "event-filter.html").write_text("<html></html>\n")
    rules = base / "monitoring" / "prometheus" / "rules.json"
    rules.parent.mkdir(parents=True)
    rules.write_text('{"status": "success", "data": {"groups": []}}')
    # A multi-document file that breaks in its second document (noticed on line 9).
    (base / "namespaces" / ns / "apps" / "controllerrevisions.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: before-the-break\n"
        f"  namespace: {ns}\n---\nmetadata:\n  name: [unclosed\n  namespace: x\n"
    )
    return base


def alertmanager_alerts(namespace: str, pod: str) -> list[Obj]:
    """Alertmanager's /api/v2/alerts answer: one firing alert, one silenced."""

    def alert(name: str, silenced_by: list[str]) -> Obj:
        labels = {"alertname": name, "namespace": namespace, "pod": pod, "severity": "warning"}
        return {
            "fingerprint": alerts.fingerprint(labels),
            "labels": labels,
            "annotations": {"summary": f"{name} on {pod}"},
            "startsAt": "2026-01-01T10:00:00.000Z",
            "endsAt": "2026-01-01T11:00:00.000Z",
            "updatedAt": "2026-01-01T10:05:00.000Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            "status": {
                "state": "suppressed" if silenced_by else "active",
                "silencedBy": silenced_by,
                "inhibitedBy": [],
            },
            "receivers": [{"name": "default"}],
        }

    return [alert("KubePodCrashLooping", []), alert("KubePodNotReady", ["silence-1"])]


def tar_gz(path: Path, root: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --------------------------------------------------------------------------- graph helpers


def live(store: Store, cluster: str) -> dict[str, dict[str, Any]]:
    return {
        r: n for r, n in nodes(store).items() if n["cluster"] == cluster and not n.get("deleted_at")
    }


def by_name(
    graph: dict[str, dict[str, Any]], cls: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    [found] = [
        n
        for n in graph.values()
        if (n["class"], n["name"]) == (cls, name)
        and (namespace is None or n.get("namespace") == namespace)
    ]
    return found


def named(graph: dict[str, dict[str, Any]], obj: Obj) -> dict[str, Any]:
    """The node of a generated object."""
    meta = obj["metadata"]
    return by_name(graph, SPECS[obj["kind"]].class_name, meta["name"], meta.get("namespace"))


def expected_counts(lists: Path) -> Counter[str]:
    return Counter(SPECS[obj["kind"]].class_name for obj in generated(lists))


def a_stale_pod(store: Store, cluster: str) -> str:
    """A pod node from an earlier listing of ``cluster``, absent from every snapshot."""
    pod_ref = ref("k8s:Pod", {"namespace": "gone", "name": "old-pod"}, cluster)
    store.upsert_nodes([node(pod_ref, "Pod", source="k8s", cluster=cluster, namespace="gone")])
    return pod_ref


# --------------------------------------------------------------------------- tests


def test_a_must_gather_loads_like_the_live_ingester_and_a_bad_file_stops_the_sweep(
    store: Store, lists: Path, tmp_path: Path
) -> None:
    base = must_gather(tmp_path, lists)
    stale = a_stale_pod(store, KUBE_SYSTEM_UID)

    summary = ingest(store, tmp_path / "must-gather.local.5519406226283186547")

    # The cluster is named as the live ingester names it: the kube-system namespace's UID.
    assert summary.cluster == KUBE_SYSTEM_UID
    # The broken file is reported with its path and position; the rest loaded; no sweep.
    [error] = summary.errors
    broken = base / "namespaces"
    assert re.match(
        rf"{re.escape(str(broken))}/[^:]+/apps/controllerrevisions\.yaml:9:\d+: "
        r"invalid YAML",
        error,
    ), error
    graph = live(store, KUBE_SYSTEM_UID)
    assert stale in graph and summary.deleted == 0
    assert "before-the-break" in {n["name"] for n in graph.values()}

    # Every generated object once (running pods are in two files), and nothing else.
    counts = Counter(n["class"] for n in graph.values() if n["domain"] == "k8s")
    expected = expected_counts(lists)
    expected.update({"Namespace": 1, "Secret": 1, "ServiceAccount": 1, "Pod": 1})  # + stale
    expected.update({"Widget.example.com": 1, "ClusterOperator.config.openshift.io": 1})
    assert counts == expected
    assert all(n["source"] == "k8s" for n in graph.values() if n["domain"] == "k8s")
    # The running pods' log files are their containers' log streams (tests/test_must_gather).
    running = [
        o for o in generated(lists) if o["kind"] == "Pod" and o["status"]["phase"] == "Running"
    ]
    streams = {n["name"] for n in graph.values() if n["domain"] == "log"}
    assert streams == {
        f"{o['metadata']['name']}/{o['spec']['containers'][0]['name']}" for o in running
    }

    # The properties rules join on, as k8s_rows makes them.
    objects = list(generated(lists))
    claimed = next(
        o
        for o in objects
        if o["kind"] == "Pod"
        and "persistentVolumeClaim" in json.dumps(o["spec"].get("volumes", []))
    )
    pod = named(graph, claimed)
    assert pod["claim_names"] == sorted(
        v["persistentVolumeClaim"]["claimName"]
        for v in claimed["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    )
    owner = claimed["metadata"]["ownerReferences"][0]
    assert pod["owners"] == [f"{owner['kind']}/{owner['name']}"]
    assert pod["k8s.pod.name"] == claimed["metadata"]["name"] and pod["phase"]
    service = next(o for o in objects if o["kind"] == "Service")
    assert named(graph, service)["selector"] == sorted(
        f"{k}={v}" for k, v in service["spec"]["selector"].items()
    )
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert named(graph, deployment)["selector"] == sorted(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    # Core v1 Events (kubectl's) are k8s:Event, as the live ingester lists them.
    event = next(o for o in objects if o["kind"] == "Event")
    stored = named(graph, event)
    assert stored["class"] == "Event"
    assert stored["k8s.object.name"] == event["involvedObject"]["name"]
    assert (stored["reason"], stored["note"]) == (event["reason"], event["message"])
    # Custom resources, namespaced and cluster-scoped, with their name fields.
    assert by_name(graph, "Widget.example.com", "w1")["name_configMapName"] == "w1-config"
    assert "namespace" not in by_name(graph, "ClusterOperator.config.openshift.io", "monitoring")

    # The Secret is there, by its metadata; its data is nowhere in the graph.
    secret = by_name(graph, "Secret", "db-credentials")
    assert secret["labels"] == ["app=db"] and "data" not in secret
    everything = json.dumps(list(nodes(store).values()), default=str)
    assert SECRET_VALUE not in everything and SECRET_B64 not in everything


def test_a_tar_gz_of_kubectl_lists_sweeps_its_classes_and_loads_alerts(
    store: Store, lists: Path, tmp_path: Path
) -> None:
    objects = list(generated(lists))
    pod = next(o for o in objects if o["kind"] == "Pod")["metadata"]
    files = {f"kubectl/{f.name}": f.read_bytes() for f in sorted(lists.glob("*.json"))}
    files["monitoring/alerts.json"] = json.dumps(
        alertmanager_alerts(pod["namespace"], pod["name"])
    ).encode()
    archive = tar_gz(tmp_path / "prod-east.tar.gz", "snapshot", files)
    cluster = "prod-east"  # no kube-system in it: the file's name
    stale = a_stale_pod(store, cluster)
    widget_ref = ref("k8s:Widget.example.com", {"namespace": "ns", "name": "w"}, cluster)
    store.upsert_nodes([node(widget_ref, "Widget.example.com", source="k8s", cluster=cluster)])
    old_alert = alerts.Alert(
        labels={"alertname": "Old", "namespace": "x"}, state="firing", starts_at=None
    )
    store.upsert_nodes([alerts.to_row(old_alert, cluster)])

    summary = ingest(store, archive)

    assert summary.ok and summary.cluster == cluster
    graph = nodes(store)
    # Complete: the stale pod is swept; a class the snapshot does not hold is left alone.
    assert graph[stale]["deleted_at"] is not None and summary.deleted == 1
    assert graph[widget_ref].get("deleted_at") is None
    counts = Counter(n["class"] for n in live(store, cluster).values() if n["domain"] == "k8s")
    assert counts == expected_counts(lists) + Counter({"Widget.example.com": 1})

    by_alertname = {n["alertname"]: n for n in graph.values() if n["domain"] == "alert"}
    firing, silenced = by_alertname["KubePodCrashLooping"], by_alertname["KubePodNotReady"]
    assert (firing["state"], silenced["state"]) == ("firing", "silenced")
    assert silenced["silenced_by"] == ["silence-1"]
    assert firing["cluster"] == cluster and firing["k8s.pod.name"] == pod["name"]
    assert firing["expr"] == "up == 0" and firing["namespace"] == pod["namespace"]
    # The alerts file is the complete view of this cluster's alerts: the old one resolved.
    assert by_alertname["Old"]["state"] == "resolved"
    assert summary.objects["alert:alert"] == 3


def test_every_format_reads_and_secrets_lose_their_data_at_once(tmp_path: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}}
    typed = {
        "apiVersion": "apps/v1",
        "kind": "DeploymentList",
        "items": [{"metadata": {"name": "d", "namespace": "n"}}],
    }
    multi = yaml.safe_dump_all([pod, secret_with_data("n"), {"just": "data"}])
    archive = tmp_path / "snap.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("snap/all.yaml", multi)
        z.writestr("snap/deployments.json", json.dumps(typed))
        z.writestr("snap/notes.txt", "not read")
        z.writestr("__MACOSX/snap/._all.yaml", b"\x00\x05\x16\x07")
    found = [(name, obj["kind"], obj["metadata"]["name"]) for name, obj in iter_objects(archive)]
    assert found == [
        (f"{archive}:snap/all.yaml", "Pod", "p"),
        (f"{archive}:snap/all.yaml", "Secret", "db-credentials"),
        (f"{archive}:snap/deployments.json", "Deployment", "d"),
    ]
    [secret] = [obj for _, obj in iter_objects(archive) if obj["kind"] == "Secret"]
    assert SECRET_VALUE not in json.dumps(secret) and SECRET_B64 not in json.dumps(secret)
    assert secret["metadata"]["labels"] == {"app": "db"}

    # Without on_error, a broken file raises, naming the file and the position.
    broken = tmp_path / "broken.json"
    broken.write_text('{"apiVersion": "v1",\n "kind": }')
    with pytest.raises(SnapshotFormatError, match=r"broken\.json:2:10: invalid JSON"):
        list(iter_objects(broken))
    truncated = tmp_path / "cut.tgz"
    truncated.write_bytes(
        tar_gz(tmp_path / "whole.tgz", "s", {"a.yaml": multi.encode()}).read_bytes()[:60]
    )
    seen: list[SnapshotFormatError] = []
    assert list(iter_objects(truncated, seen.append)) == []
    assert len(seen) == 1 and "unreadable archive" in str(seen[0])
    with pytest.raises(SnapshotError, match="no such file or directory"):
        list(iter_objects(tmp_path / "missing"))
    (tmp_path / "cluster.rar").write_bytes(b"Rar!")
    with pytest.raises(SnapshotError, match=r"cluster\.rar: not a snapshot; .* \.tgz"):
        list(iter_objects(tmp_path / "cluster.rar"))

    alerts_file = tmp_path / "am" / "alerts.json"
    alerts_file.parent.mkdir()
    alerts_file.write_text(json.dumps(alertmanager_alerts("n", "p")))
    assert [a.state for _, a in iter_alerts(tmp_path / "am")] == ["firing", "silenced"]
    assert list(iter_objects(tmp_path / "am")) == []


def test_the_cluster_is_named_by_option_then_kube_system_then_file_name(
    tmp_path: Path,
) -> None:
    kube_system = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kube-system", "uid": "uid-1"},
    }
    lists = {
        "namespaces.json": json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [kube_system]}
        ).encode()
    }
    named = tar_gz(tmp_path / "named.tgz", "x", lists)
    unnamed = tar_gz(tmp_path / "site-b.tar.gz", "x", {"empty.yaml": b""})
    assert cluster_name(named) == "uid-1"
    assert cluster_name(named, "mine") == "mine"
    assert cluster_name(unnamed) == "site-b"


def test_the_cli_loads_a_snapshot_and_can_leave_the_sweep_out(
    store: Store, neo4j_server: Neo4jServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no korrel8.yaml from the working directory
    monkeypatch.delenv("KORREL8_CONFIG", raising=False)
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    snapshot = tmp_path / "snap"
    write_yaml(
        snapshot / "pods.yaml",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}},
    )
    stale = a_stale_pod(store, "lab")
    app = Typer()
    register(app)
    app.command("other")(lambda: None)  # a group, so that the command is named as in korrel8

    result = CliRunner().invoke(app, ["snapshot", str(snapshot), "--cluster", "lab", "--no-sweep"])
    assert result.exit_code == 0, result.output
    assert "snapshot (cluster lab)" in result.stdout and "Pod" in result.stdout
    assert set(live(store, "lab")) == {
        stale,
        ref("k8s:Pod", {"namespace": "n", "name": "p"}, "lab"),
    }

    (snapshot / "bad.yaml").write_text("a: [\n")
    result = CliRunner().invoke(app, ["snapshot", str(snapshot), "--cluster", "lab"])
    assert result.exit_code == 1
    assert f"{snapshot / 'bad.yaml'}:2:1: invalid YAML" in result.stderr
    assert stale in live(store, "lab")  # a partial load sweeps nothing

    (tmp_path / "empty").mkdir()  # a wrong path loads nothing, and says so
    result = CliRunner().invoke(app, ["snapshot", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "nothing to load" in result.stderr


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    doc=st.dictionaries(st.text(max_size=6), _json_values, max_size=4),
    items=st.lists(_json_values, max_size=6) | _json_values,
    indent=st.sampled_from([None, 1, 4]),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_a_json_list_read_item_by_item_is_what_json_reads(
    doc: dict[str, Any], items: Any, indent: int | None, cut: int
) -> None:
    """A List's items are decoded one at a time (its memory bounded by the text, not by
    every parsed item): the same values as json.loads, the same refusal of a cut file."""
    text = json.dumps({**doc, "items": items}, indent=indent)
    got = _json_document(text)
    assert {k: list(v) if isinstance(v, _Items) else v for k, v in got.items()} == json.loads(text)
    broken = text[: cut % len(text)]
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    with pytest.raises(json.JSONDecodeError):
        _json_document(broken)
