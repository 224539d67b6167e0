"""Realistic Kubernetes clusters, deterministic from a seed and scaled by a pod count.

    units = cluster(pods=10_000, seed=1)            # lazily, one unit at a time
    shop = planned_namespace("shop", [Workload("StatefulSet", "db", 3)])  # named workloads
    write_files(units, Path("out/cluster"))         # kubectl get -o json: a List per kind
    apply(cluster(pods=500), api_client)            # or create them through the API

A *unit* is a list of objects (plain dicts, as ``kubectl get -o json`` shows them) that
refer only to each other and to the cluster unit: first the cluster-scoped Nodes and
StorageClasses, then one namespace at a time. Memory stays that of one namespace.

Shape (per 100 pods, from the proportions of real clusters): about 7 DaemonSet pods
(2 DaemonSets over one Node per 30 pods), the rest in namespaces of about 40 pods: 75% in
Deployments (1 to 10 replicas, one current ReplicaSet and often an old one scaled to 0),
10% in StatefulSets (a volumeClaimTemplate each: a PVC and its bound PV per pod), 9% in
Jobs of CronJobs, 3% in plain Jobs and 3% bare pods. Every Deployment and StatefulSet has a
Service with an EndpointSlice listing its pods, a ConfigMap it mounts and a Secret it reads
through envFrom; a third of the Deployments have an HPA, two fifths a PDB, a fifth an
Ingress. About one Event per two pods; a few pods restart or crash-loop.

No controllers run behind the test API server, so ``apply`` creates what they would:
ReplicaSets, Pods, PVs, EndpointSlices and Events, with ownerReferences pointing at the
UIDs the server gave the owners, and the status subresources (phase, readiness, binding).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from ingest.k8s.kinds import KindSpec, builtin_kinds

Obj = dict[str, Any]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
APPS = [
    *("api", "cart", "catalog", "checkout", "frontend", "gateway", "inventory", "orders"),
    *("payments", "profile", "ratings", "recommend", "search", "shipping", "users", "auth"),
    *("billing", "notify", "media", "report"),
]
IMAGES = {"web": "nginx:1.27", "app": "ghcr.io/acme/{app}:1.{minor}.0", "db": "postgres:16"}


@dataclass(frozen=True)
class Shape:
    """Proportions of a generated cluster (see the module docstring)."""

    pods_per_namespace: int = 40
    pods_per_node: int = 30
    daemonsets: int = 2
    statefulset_share: float = 0.10
    cronjob_share: float = 0.09
    job_share: float = 0.03
    bare_share: float = 0.03
    events_per_pod: float = 0.5
    hpa_share: float = 0.33
    pdb_share: float = 0.4
    ingress_share: float = 0.2


# --------------------------------------------------------------------------- generation


def cluster(
    pods: int, seed: int = 0, prefix: str = "gen", shape: Shape | None = None
) -> Iterator[list[Obj]]:
    """The units of a cluster of exactly ``pods`` pods: cluster-scoped objects first, then
    one unit per namespace (``<prefix>-system`` holds the DaemonSets)."""
    shape = shape or Shape()
    rng = random.Random(f"{seed}:{prefix}:cluster")
    node_count = max(1, -(-pods // shape.pods_per_node))
    nodes = [f"{prefix}-node-{i:04d}" for i in range(node_count)]
    yield [node_object(n, rng) for n in nodes] + [
        storage_class("standard", "kubernetes.io/no-provisioner", rng, default=True),
        storage_class("fast", "ebs.csi.aws.com", rng),
    ]
    ds_count = min(shape.daemonsets, (pods // 4) // node_count)
    app_pods = pods - ds_count * node_count
    if ds_count:
        yield _Namespace(f"{prefix}-system", seed, nodes, shape).daemonsets(ds_count).objects
    count = max(1, round(app_pods / shape.pods_per_namespace)) if app_pods else 0
    for i, budget in enumerate(_split(app_pods, count, rng)):
        ns = _Namespace(f"{prefix}-{APPS[i % len(APPS)]}-{i:03d}", seed, nodes, shape)
        yield ns.fill(budget).objects


def namespace(
    name: str,
    pods: int,
    seed: int = 0,
    nodes: Sequence[str] = ("node-0",),
    shape: Shape | None = None,
    create_namespace: bool = True,
    storage_classes: Sequence[str] = ("standard", "fast"),
) -> list[Obj]:
    """One namespace of ``pods`` pods, its pods on ``nodes`` and its claims of
    ``storage_classes`` (both created elsewhere, if at all)."""
    # Seeded without the name: a test's random namespace name does not change its content.
    ns = _Namespace(name, seed, list(nodes), shape or Shape(), create_namespace, key=f"{seed}")
    ns.storage_classes = list(storage_classes)
    return ns.fill(pods).objects


@dataclass(frozen=True)
class Workload:
    """One workload of a planned namespace, with the number of pods it has."""

    kind: Literal["Deployment", "StatefulSet", "Job", "CronJob"]
    app: str
    pods: int = 1  # replicas; a CronJob's finished runs; a Job has one
    crash_looping: bool = False  # its first pod is in CrashLoopBackOff, with a BackOff Event


def planned_namespace(
    name: str,
    workloads: Sequence[Workload],
    seed: int = 0,
    nodes: Sequence[str] = ("node-0",),
    shape: Shape | None = None,
    storage_classes: Sequence[str] = ("standard", "fast"),
) -> list[Obj]:
    """One namespace holding exactly ``workloads``, each with what comes with it (its
    Service, ConfigMap, Secret, claims and volumes, Events...): for a demo or a test that
    names the objects it expects."""
    ns = _Namespace(name, seed, list(nodes), shape or Shape(), key=f"{seed}:{name}:planned")
    ns.storage_classes = list(storage_classes)
    for w in workloads:
        ns.apps[w.app] += 1  # a generated name never takes a planned one
        if w.crash_looping:
            ns.crash_looping.add(w.app)
        if w.kind == "Deployment":
            ns.deployment(w.pods, app=w.app, replicas=w.pods)
        elif w.kind == "StatefulSet":
            ns.statefulset(w.pods, app=w.app, replicas=w.pods)
        elif w.kind == "CronJob":
            ns.cronjob(w.pods, app=w.app, runs=w.pods)
        else:
            ns.job_object(w.app, None, {"app": w.app})
    return ns.objects


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` in ``parts`` uneven positive shares (some namespaces are much bigger)."""
    if parts <= 0:
        return []
    weights = [rng.lognormvariate(0, 0.6) for _ in range(parts)]
    shares = [max(1, int(total * w / sum(weights))) for w in weights]
    i = 0
    while sum(shares) != total:  # fix the rounding, one pod at a time
        step = 1 if sum(shares) < total else -1
        if shares[i % parts] + step >= 1:
            shares[i % parts] += step
        i += 1
    return shares


def _meta(name: str, namespace: str | None, rng: random.Random, **extra: Any) -> Obj:
    meta: Obj = {
        "name": name,
        "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "creationTimestamp": _ts(EPOCH + timedelta(minutes=rng.randrange(60 * 24 * 30))),
    }
    if namespace:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v})
    return meta


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(obj: Obj, controller: bool = True) -> Obj:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def _suffix(rng: random.Random, n: int = 5) -> str:
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def node_object(name: str, rng: random.Random | None = None) -> Obj:
    rng = rng or random.Random(name)
    ip = f"10.{rng.randrange(1, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(
            name,
            None,
            rng,
            labels={
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": f"zone-{rng.choice('abc')}",
            },
        ),
        "spec": {"podCIDR": f"10.244.{rng.randrange(256)}.0/24"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastHeartbeatTime": _ts(EPOCH),
                    "lastTransitionTime": _ts(EPOCH),
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7800m", "memory": "30Gi", "pods": "110"},
        },
    }


def storage_class(name: str, provisioner: str, rng: random.Random, default: bool = False) -> Obj:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else None
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": _meta(name, None, rng, annotations=annotations),
        "provisioner": provisioner,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


@dataclass
class _Namespace:
    """Builds one namespace's objects; ``objects`` is in creation order per kind."""

    name: str
    seed: int
    nodes: list[str]
    shape: Shape
    create: bool = True
    key: str = ""  # the random seed; default: the seed and the namespace's name
    storage_classes: list[str] = field(default_factory=lambda: ["standard", "fast"])
    objects: list[Obj] = field(default_factory=list)
    crash_looping: set[str] = field(default_factory=set)  # apps whose next pod crash-loops

    def __post_init__(self) -> None:
        self.rng = random.Random(self.key or f"{self.seed}:{self.name}")
        self.apps: Counter[str] = Counter()
        self.made: set[str] = set()  # names of the shared objects already made
        if self.create:
            self.add("v1", "Namespace", None, self.name, labels={"team": self.rng.choice(APPS)})
        self.add("v1", "ServiceAccount", self.name, "default")

    def add(
        self, api_version: str, kind: str, namespace: str | None, name: str, **meta: Any
    ) -> Obj:
        obj: Obj = {"apiVersion": api_version, "kind": kind}
        obj["metadata"] = _meta(name, namespace, self.rng, **meta)
        self.objects.append(obj)
        return obj

    def app_name(self) -> str:
        base = self.rng.choice(APPS)
        self.apps[base] += 1
        return base if self.apps[base] == 1 else f"{base}-{self.apps[base]}"

    def fill(self, budget: int) -> _Namespace:
        shares = (
            (self.shape.statefulset_share, self.statefulset),
            (self.shape.cronjob_share, self.cronjob),
            (self.shape.job_share, self.job),
            (self.shape.bare_share, self.bare_pod),
        )
        while budget > 0:
            roll, made = self.rng.random(), 0
            for share, make in shares:
                if roll < share:
                    made = make(budget)
                    break
                roll -= share
            else:
                made = self.deployment(budget)
            budget -= made
        return self

    # -- what workloads need --------------------------------------------------

    def config(self, app: str) -> tuple[str, str]:
        cm = self.add("v1", "ConfigMap", self.name, f"{app}-config", labels={"app": app})
        cm["data"] = {"LOG_LEVEL": self.rng.choice(["info", "debug"]), "PORT": "8080"}
        secret = self.add("v1", "Secret", self.name, f"{app}-env", labels={"app": app})
        secret["type"] = "Opaque"
        secret["data"] = {"PASSWORD": "c2VjcmV0"}  # "secret": generated, never real
        return cm["metadata"]["name"], secret["metadata"]["name"]

    def service_account(self, app: str) -> str | None:
        """Half the apps run as their own ServiceAccount; the others as ``default``."""
        if self.rng.random() < 0.5:
            return None
        if app not in self.made:
            self.made.add(app)
            self.add("v1", "ServiceAccount", self.name, app, labels={"app": app})
        return app

    def pull_secret(self) -> str:
        """The namespace's registry credential, made on first use."""
        name = "registry-pull"
        if name not in self.made:
            self.made.add(name)
            secret = self.add("v1", "Secret", self.name, name)
            secret["type"] = "kubernetes.io/dockerconfigjson"
            secret["data"] = {".dockerconfigjson": "eyJhdXRocyI6e319"}  # {"auths":{}}
        return name

    def pod_spec(self, app: str, cm: str | None, secret: str | None, kind: str = "app") -> Obj:
        image = IMAGES[kind].format(app=app.split("-")[0], minor=self.rng.randrange(30))
        container: Obj = {
            "name": app.split("-")[0] if kind == "app" else kind,
            "image": image,
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        }
        spec: Obj = {"containers": [container], "restartPolicy": "Always"}
        if secret:
            container["envFrom"] = [{"secretRef": {"name": secret}}]
        if cm:
            container["volumeMounts"] = [{"name": "config", "mountPath": "/etc/app"}]
            spec["volumes"] = [{"name": "config", "configMap": {"name": cm}}]
        if self.rng.random() < 0.3:  # a sidecar
            spec["containers"].append({"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"})
        if kind == "app" and self.rng.random() < 0.3:
            spec["imagePullSecrets"] = [{"name": self.pull_secret()}]
        account = self.service_account(app) if kind != "db" else None
        if account:
            spec["serviceAccountName"] = account
        if self.rng.random() < 0.2:
            spec["initContainers"] = [{"name": "migrate", "image": image, "args": ["migrate"]}]
        return spec

    def pod(
        self,
        name: str,
        labels: Obj,
        spec: Obj,
        owner: Obj | None,
        done: bool = False,
        node: str | None = None,
    ) -> Obj:
        node = node or self.rng.choice(self.nodes)
        pod = self.add(
            "v1",
            "Pod",
            self.name,
            name,
            labels=labels,
            ownerReferences=[_owner(owner)] if owner else None,
        )
        pod["spec"] = {**json.loads(json.dumps(spec)), "nodeName": node}
        crash = not done and labels.get("app") in self.crash_looping
        if crash:
            self.crash_looping.discard(labels["app"])  # one pod of the app, not all
        pod["status"] = self.pod_status(pod, done, crash)
        # `or crash` after the draw: the random sequence stays that of a generated cluster.
        if self.rng.random() < self.shape.events_per_pod or crash:
            self.event(pod, done)
        return pod

    def pod_status(self, pod: Obj, done: bool, crash: bool = False) -> Obj:
        rng, start = self.rng, pod["metadata"]["creationTimestamp"]
        crashing = (not done and rng.random() < 0.02) or crash
        restarts = rng.choice([0] * 18 + [1, 3]) + (rng.randrange(5, 60) if crashing else 0)
        statuses = []
        for c in pod["spec"]["containers"]:
            state: Obj = {"running": {"startedAt": start}}
            if done:
                state = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": start,
                        "finishedAt": start,
                    }
                }
            elif crashing:
                state = {"waiting": {"reason": "CrashLoopBackOff"}}
            statuses.append(
                {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": f"{c['image']}@sha256:"
                    + uuid.UUID(int=rng.getrandbits(128)).hex * 2,
                    "containerID": "containerd://" + uuid.UUID(int=rng.getrandbits(128)).hex * 2,
                    "ready": not done and not crashing,
                    "restartCount": restarts if not done else 0,
                    "started": not done and not crashing,
                    "state": state,
                }
            )
        ready = "False" if done or crashing else "True"
        ip = f"10.244.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        return {
            "phase": "Succeeded" if done else "Running",
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": start}
                for t, s in (
                    ("PodScheduled", "True"),
                    ("Initialized", "True"),
                    ("ContainersReady", ready),
                    ("Ready", ready),
                )
            ],
            "hostIP": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": start,
            "containerStatuses": statuses,
            "qosClass": "Burstable",
        }

    def event(self, obj: Obj, done: bool) -> None:
        meta = obj["metadata"]
        restarts = sum(
            s["restartCount"] for s in obj.get("status", {}).get("containerStatuses", [])
        )
        reason, kind, note = self.rng.choice(
            [
                ("Scheduled", "Normal", f"Successfully assigned {self.name}/{meta['name']}"),
                ("Pulled", "Normal", "Container image already present on machine"),
                ("Started", "Normal", "Started container"),
            ]
        )
        if restarts and not done:
            reason, kind, note = "BackOff", "Warning", "Back-off restarting failed container"
        # A core/v1 Event, as the kubelet records it and `kubectl get events` prints it.
        event = self.add(
            "v1", "Event", self.name, f"{meta['name']}.{self.rng.getrandbits(64):016x}"
        )
        event.update(
            {
                "involvedObject": {
                    "apiVersion": "v1",
                    "kind": obj["kind"],
                    "name": meta["name"],
                    "namespace": self.name,
                    "uid": meta["uid"],
                },
                "reason": reason,
                "message": note,
                "type": kind,
                "source": {"component": "kubelet", "host": obj["spec"].get("nodeName", "")},
                "firstTimestamp": meta["creationTimestamp"],
                "lastTimestamp": meta["creationTimestamp"],
                "count": restarts if restarts > 1 and not done else 1,
                "reportingComponent": "kubelet",
                "reportingInstance": obj["spec"].get("nodeName", ""),
            }
        )

    def service(self, app: str, pods: list[Obj], headless: bool = False) -> Obj:
        labels = {"app": app}
        svc = self.add("v1", "Service", self.name, app, labels=labels)
        svc["spec"] = {
            "selector": labels,
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        }
        if headless:
            svc["spec"]["clusterIP"] = "None"
        else:
            svc["spec"]["clusterIP"] = f"10.96.{self.rng.randrange(256)}.{self.rng.randrange(256)}"
        slice_ = self.add(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            self.name,
            f"{app}-{_suffix(self.rng)}",
            labels={
                "kubernetes.io/service-name": app,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            ownerReferences=[_owner(svc)],
        )
        slice_["addressType"] = "IPv4"
        slice_["ports"] = [{"name": "http", "port": 8080, "protocol": "TCP"}]
        slice_["endpoints"] = [
            {
                "addresses": [p["status"]["podIP"]],
                "nodeName": p["spec"]["nodeName"],
                "conditions": {"ready": p["status"]["conditions"][-1]["status"] == "True"},
                "targetRef": {
                    "kind": "Pod",
                    "name": p["metadata"]["name"],
                    "namespace": self.name,
                    "uid": p["metadata"]["uid"],
                },
            }
            for p in pods
        ]
        return svc

    # -- workloads: each returns the pods it made -------------------------------

    def deployment(self, budget: int, app: str | None = None, replicas: int | None = None) -> int:
        app = app or self.app_name()
        if replicas is None:
            replicas = min(budget, self.rng.choice([1, 1, 2, 2, 2, 3, 3, 3, 4, 5, 6, 8, 10]))
        cm, secret = self.config(app)
        labels = {"app": app, "app.kubernetes.io/name": app}
        template = self.pod_spec(app, cm, secret)
        dep = self.add("apps/v1", "Deployment", self.name, app, labels=labels)
        dep["spec"] = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": labels}, "spec": template},
        }
        dep["status"] = {
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": 1,
        }
        if self.rng.random() < 0.5:  # the ReplicaSet of the previous rollout, scaled to 0
            self.replica_set(dep, app, labels, template, 0)
        rs = self.replica_set(dep, app, labels, template, replicas)
        hash_ = rs["metadata"]["labels"]["pod-template-hash"]
        pods = [
            self.pod(
                f"{rs['metadata']['name']}-{_suffix(self.rng)}",
                {**labels, "pod-template-hash": hash_},
                template,
                rs,
            )
            for _ in range(replicas)
        ]
        self.service(app, pods)
        if self.rng.random() < self.shape.hpa_share:
            hpa = self.add("autoscaling/v2", "HorizontalPodAutoscaler", self.name, app)
            hpa["spec"] = {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
                "minReplicas": max(1, replicas // 2),
                "maxReplicas": replicas * 3,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 75},
                        },
                    }
                ],
            }
        if self.rng.random() < self.shape.pdb_share:
            pdb = self.add("policy/v1", "PodDisruptionBudget", self.name, app)
            pdb["spec"] = {"selector": {"matchLabels": {"app": app}}, "maxUnavailable": 1}
        if self.rng.random() < self.shape.ingress_share:
            ing = self.add("networking.k8s.io/v1", "Ingress", self.name, app)
            backend = {"service": {"name": app, "port": {"number": 80}}}
            ing["spec"] = {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "host": f"{app}.{self.name}.example.com",
                        "http": {
                            "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                        },
                    }
                ],
            }
        return replicas

    def replica_set(self, dep: Obj, app: str, labels: Obj, template: Obj, replicas: int) -> Obj:
        hash_ = _suffix(self.rng, 10)
        rs = self.add(
            "apps/v1",
            "ReplicaSet",
            self.name,
            f"{app}-{hash_}",
            labels={**labels, "pod-template-hash": hash_},
            ownerReferences=[_owner(dep)],
        )
        pod_labels = {**labels, "pod-template-hash": hash_}
        rs["spec"] = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app, "pod-template-hash": hash_}},
            "template": {"metadata": {"labels": pod_labels}, "spec": template},
        }
        rs["status"] = {
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "fullyLabeledReplicas": replicas,
        }
        if not replicas:
            rs["status"] = {"replicas": 0}
        return rs

    def statefulset(self, budget: int, app: str | None = None, replicas: int | None = None) -> int:
        app = app or self.app_name()
        if replicas is None:
            replicas = min(budget, self.rng.choice([1, 2, 3, 3]))
        cm, secret = self.config(app)
        labels = {"app": app}
        template = self.pod_spec(app, cm, secret, kind="db")
        template["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        sc = self.rng.choice(self.storage_classes)
        claim: Obj = {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": sc,
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
        sts = self.add("apps/v1", "StatefulSet", self.name, app, labels=labels)
        sts["spec"] = {
            "replicas": replicas,
            "serviceName": app,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": template},
            "volumeClaimTemplates": [claim],
        }
        sts["status"] = {
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        }
        pods = []
        for i in range(replicas):
            pvc_name = f"data-{app}-{i}"
            pvc = self.add("v1", "PersistentVolumeClaim", self.name, pvc_name, labels=labels)
            # Named like the provisioners' pvc-<uuid>, unique per namespace: PVs are not.
            pv_name = f"pvc-{uuid.uuid5(uuid.NAMESPACE_URL, f'{self.name}/{pvc_name}')}"
            pvc["spec"] = {**claim["spec"], "volumeName": pv_name, "volumeMode": "Filesystem"}
            pvc["status"] = {
                "phase": "Bound",
                "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": "10Gi"},
            }
            pv = self.add(
                "v1",
                "PersistentVolume",
                None,
                pv_name,
                annotations={"pv.kubernetes.io/provisioned-by": "generator"},
            )
            pv["spec"] = {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": sc,
                "volumeMode": "Filesystem",
                "hostPath": {"path": f"/var/lib/gen/{pv_name}"},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": self.name,
                    "name": pvc["metadata"]["name"],
                    "uid": pvc["metadata"]["uid"],
                },
            }
            pv["status"] = {"phase": "Bound"}
            spec = {
                **template,
                "hostname": f"{app}-{i}",
                "subdomain": app,
                "volumes": [
                    *template.get("volumes", []),
                    {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{app}-{i}"}},
                ],
            }
            pod_labels = {**labels, "statefulset.kubernetes.io/pod-name": f"{app}-{i}"}
            pods.append(self.pod(f"{app}-{i}", pod_labels, spec, sts))
        self.service(app, pods, headless=True)
        return replicas

    def job_object(self, name: str, owner: Obj | None, labels: Obj) -> tuple[Obj, Obj]:
        job = self.add(
            "batch/v1",
            "Job",
            self.name,
            name,
            labels=labels,
            ownerReferences=[_owner(owner)] if owner else None,
        )
        uid = job["metadata"]["uid"]
        pod_labels = {
            **labels,
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        spec = self.pod_spec(labels["app"], None, None)
        spec["restartPolicy"] = "OnFailure"
        job["spec"] = {
            "backoffLimit": 3,
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "template": {"metadata": {"labels": pod_labels}, "spec": spec},
        }
        return job, self.pod(f"{name}-{_suffix(self.rng)}", pod_labels, spec, job, done=True)

    def cronjob(self, budget: int, app: str | None = None, runs: int | None = None) -> int:
        app = app or self.app_name()
        if runs is None:
            runs = min(budget, self.rng.choice([1, 2, 3]))
        labels = {"app": app}
        cron = self.add("batch/v1", "CronJob", self.name, app, labels=labels)
        cron["spec"] = {
            "schedule": self.rng.choice(["*/15 * * * *", "0 * * * *", "30 2 * * *"]),
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [{"name": "task", "image": "busybox:1.36"}],
                            "restartPolicy": "OnFailure",
                        },
                    }
                }
            },
        }
        for i in range(runs):
            self.job_object(f"{app}-{29_000_000 + i * 15}", cron, labels)
        return runs

    def job(self, budget: int) -> int:
        app = self.app_name()
        self.job_object(f"{app}-migrate", None, {"app": app})
        return 1

    def bare_pod(self, budget: int) -> int:
        app = self.app_name()
        self.pod(f"{app}-debug", {"app": app, "run": app}, self.pod_spec(app, None, None), None)
        return 1

    def daemonsets(self, count: int) -> _Namespace:
        for app in ("node-exporter", "log-collector", "csi-node", "cni")[:count]:
            labels = {"app": app, "app.kubernetes.io/name": app}
            template = self.pod_spec(app, None, None)
            ds = self.add("apps/v1", "DaemonSet", self.name, app, labels=labels)
            ds["spec"] = {
                "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": labels}, "spec": template},
            }
            n = len(self.nodes)
            ds["status"] = {
                "desiredNumberScheduled": n,
                "currentNumberScheduled": n,
                "numberReady": n,
                "numberAvailable": n,
                "updatedNumberScheduled": n,
                "numberMisscheduled": 0,
            }
            for node in self.nodes:
                self.pod(f"{app}-{_suffix(self.rng)}", labels, template, ds, node=node)
        return self


# --------------------------------------------------------------------------- output: files


def write_files(units: Iterable[list[Obj]], directory: Path) -> dict[str, int]:
    """Write ``kubectl get -o json`` Lists, one file per kind (``pods.json``...), streaming
    (one unit in memory at a time). Returns the objects written per kind."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    version = 1000
    try:
        for unit in units:
            for obj in unit:
                kind = obj["kind"]
                if kind not in files:
                    files[kind] = (directory / f"{_spec(kind).plural}.json").open("w")
                    files[kind].write('{"apiVersion": "v1", "kind": "List", "items": [\n')
                version += 1
                obj["metadata"]["resourceVersion"] = str(version)
                files[kind].write((",\n" if counts[kind] else "") + json.dumps(obj))
                counts[kind] += 1
    finally:
        for handle in files.values():
            handle.write('\n], "metadata": {"resourceVersion": ""}}\n')
            handle.close()
    return dict(counts)


# --------------------------------------------------------------------------- output: API server

# Creation order within a unit: owners, and what is referred to, first.
WAVES: dict[str, int] = {
    "Namespace": 0,
    "Node": 0,
    "StorageClass": 0,
    "ServiceAccount": 1,
    "ConfigMap": 1,
    "Secret": 1,
    "Service": 1,
    "Deployment": 1,
    "StatefulSet": 1,
    "DaemonSet": 1,
    "CronJob": 1,
    "PersistentVolumeClaim": 1,
    "ReplicaSet": 2,
    "Job": 2,
    "PersistentVolume": 2,
    "HorizontalPodAutoscaler": 2,
    "PodDisruptionBudget": 2,
    "Ingress": 2,
    "Pod": 3,
    "EndpointSlice": 4,
    "Event": 4,
}
# Kinds whose status the generator sets through the status subresource (creation drops it).
WITH_STATUS = {
    "Node",
    "Pod",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
}


def _spec(kind: str) -> KindSpec:
    return {s.kind: s for s in builtin_kinds()}[kind]


def _path(obj: Obj) -> str:
    spec, ns = _spec(obj["kind"]), obj["metadata"].get("namespace")
    root = spec.path.rsplit("/", 1)[0]
    return f"{root}/namespaces/{ns}/{spec.plural}" if ns else spec.path


def _call(api: k8s_client.ApiClient, method: str, path: str, body: Any, patch: bool = False) -> Obj:
    """One request through ``api``'s credentials and connection pool. The body is encoded
    here: the client's own serialization walks every value and costs more CPU than the
    server's handling of the request."""
    content = "application/merge-patch+json" if patch else "application/json"
    headers = {"Accept": "application/json", "Content-Type": content}
    _, url, headers, _, _ = api.param_serialize(
        method=method, resource_path=path, header_params=headers, auth_settings=["BearerToken"]
    )
    data = json.dumps(body).encode() if body is not None else None
    response = api.rest_client.pool_manager.request(
        method, url, body=data, headers=headers, timeout=60.0, preload_content=True
    )
    if not 200 <= response.status <= 299:
        raise ApiException(status=response.status, reason=response.data.decode(errors="replace"))
    result: Obj = json.loads(response.data) if response.data else {}
    return result


@dataclass
class Applied:
    created: Counter[str] = field(default_factory=Counter)
    cluster_scoped: list[str] = field(default_factory=list)  # paths, for cleaning up
    seconds: float = 0.0


def apply(
    units: Iterable[list[Obj]],
    api: k8s_client.ApiClient,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
) -> Applied:
    """Create the objects through ``api``, with the ownerReferences (and every other
    mention of a generated UID) rewritten to the UIDs the server gives.

    ``workers`` units are created at once, each in dependency order (WAVES); at most
    twice as many are held in memory.
    """
    applied, lock = Applied(), threading.Lock()
    slots = threading.BoundedSemaphore(workers * 2)
    started = time.monotonic()

    def one(unit: list[Obj]) -> None:
        try:
            uids: dict[str, str] = {}
            for obj in sorted(unit, key=lambda o: WAVES[o["kind"]]):  # stable: keeps order
                uids[obj["metadata"]["uid"]] = _create(api, obj, uids)
                with lock:
                    applied.created[obj["kind"]] += 1
                    if not obj["metadata"].get("namespace"):
                        applied.cluster_scoped.append(f"{_path(obj)}/{obj['metadata']['name']}")
                    if progress is not None:
                        progress(1)
        finally:
            slots.release()

    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for unit in units:
            slots.acquire()
            futures.append(pool.submit(one, unit))
        for future in futures:
            future.result()  # the first error, if any
    applied.seconds = time.monotonic() - started
    return applied


def _rewrite(value: Any, uids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, uids) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, uids) for v in value]
    return uids.get(value, value) if isinstance(value, str) else value


def _create(api: k8s_client.ApiClient, obj: Obj, uids: dict[str, str]) -> str:
    """Create one object (and set its status); the server's UID for it."""
    body = _rewrite({k: v for k, v in obj.items() if k != "status"}, uids)
    meta = body["metadata"]
    for key in ("uid", "creationTimestamp", "resourceVersion"):
        meta.pop(key, None)
    if obj["kind"] == "Job":  # the server makes a Job's selector and labels itself
        body["spec"].pop("selector", None)
        labels = body["spec"]["template"]["metadata"]["labels"]
        for key in ("batch.kubernetes.io/controller-uid", "controller-uid"):
            labels.pop(key, None)
    path = _path(obj)
    try:
        created = _post(api, path, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        created = _call(api, "GET", f"{path}/{meta['name']}", None)  # made by a controller
    if obj["kind"] in WITH_STATUS and "status" in obj:
        status = _rewrite(obj["status"], uids)
        _call(api, "PATCH", f"{path}/{meta['name']}/status", {"status": status}, patch=True)
    return str(created["metadata"]["uid"])


def _post(api: k8s_client.ApiClient, path: str, body: Obj) -> Obj:
    if body["kind"] == "Service" and body["spec"].get("clusterIP") != "None":
        body["spec"].pop("clusterIP", None)  # let the server allocate from its own range
        try:
            return _call(api, "POST", path, body)
        except ApiException as exc:
            # A test server's small service range fills up: a headless Service selects
            # the same pods.
            if exc.status not in (422, 500) or "allocat" not in str(exc.reason):
                raise
            body["spec"]["clusterIP"] = "None"
    return _call(api, "POST", path, body)


def delete_cluster_scoped(api: k8s_client.ApiClient, paths: Iterable[str]) -> None:
    """Delete what ``apply`` created outside namespaces (Nodes, PVs, StorageClasses,
    Namespaces). A test server has no controller to remove the finalizers (a PV's
    pv-protection), so they are dropped first."""
    for path in reversed(list(paths)):
        try:
            _call(api, "PATCH", path, {"metadata": {"finalizers": None}}, patch=True)
            _call(api, "DELETE", path, None)
        except ApiException as exc:
            if exc.status != 404:
                raise


__all__ = [
    "Applied",
    "Shape",
    "Workload",
    "apply",
    "cluster",
    "delete_cluster_scoped",
    "namespace",
    "node_object",
    "planned_namespace",
    "storage_class",
    "write_files",
]
