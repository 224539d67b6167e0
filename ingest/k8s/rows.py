"""One Kubernetes object (decoded JSON) to one node row: identity, canonical labels, the
object's labels as ``key=value`` strings, its owners, and the fields rules join on.

docs/k8s-nodes.md lists every property per kind; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ingest import status as status_rules
from ingest.k8s.fields import extract as class_fields
from ingest.k8s.kinds import KindSpec
from korrel8.graph import identifiers
from korrel8.graph.rows import NodeRow, PropertyValue
from korrel8.model import ref

SOURCE = "k8s"

Obj = Mapping[str, Any]
Props = dict[str, PropertyValue]


# What converting an object may raise when a field has the wrong type or an impossible value
# (a list of strings for ownerReferences, a timestamp before year 1 in UTC, an integer
# beyond 64 bits, a name too long to index): the object is reported and skipped.
UNREPRESENTABLE: tuple[type[Exception], ...] = (
    ValueError, TypeError, AttributeError, KeyError, OverflowError,
)  # fmt: skip


def to_row(obj: Obj, spec: KindSpec, cluster: str) -> NodeRow:
    """The node of ``obj``, an object of ``spec``'s kind in ``cluster``."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = (meta.get("namespace") or None) if spec.namespaced else None
    props = _generic(meta, spec, namespace, name)
    if spec.custom:
        # Marks what an operator's rules (instance-to-operands) may start from.
        props["custom_resource"] = True
        props.update(_custom_fields(obj))
    else:
        extract = _FIELDS.get(spec.kind)
        if extract is not None:
            props.update(extract(obj))
    # Operators (OLM) and KubeVirt: the fields their rules join on (fields.yaml).
    props.update(class_fields(spec.class_name, obj))
    # korrel8r's status rules, computed once here rather than on every search.
    props["statuses"] = status_rules.kubernetes(obj, spec.kind) or None
    return NodeRow.model_validate(
        {
            "ref": ref(spec.cls, {"namespace": namespace, "name": name}, cluster),
            "domain": "k8s",
            "class": spec.class_name,
            "source": SOURCE,
            "cluster": cluster,
            "namespace": namespace,
            "name": name,
            "properties": props,
        }
    )


def object_ref(meta: Obj, spec: KindSpec, cluster: str) -> str:
    """The ref of the object whose metadata is ``meta`` (for deletions)."""
    namespace = (meta.get("namespace") or None) if spec.namespaced else None
    return ref(spec.cls, {"namespace": namespace, "name": meta.get("name")}, cluster)


# --------------------------------------------------------------------------- every kind


def _generic(meta: Obj, spec: KindSpec, namespace: str | None, name: str) -> Props:
    owners = meta.get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), None)
    owner_keys = sorted(f"{o.get('kind')}/{o.get('name')}" for o in owners)
    props: Props = {
        "kind": spec.kind,
        "api_group": spec.group,
        "api_version": spec.api_version,
        "uid": meta.get("uid"),
        "resource_version": meta.get("resourceVersion"),
        "created_at": _time(meta.get("creationTimestamp")),
        "labels": _pairs(meta.get("labels")),
        "owners": owner_keys,
        # The same as one string, " Kind/name Kind/name ", for the text index through which
        # a cluster-scoped owner finds its dependents (no index looks into a list).
        "owners_text": f" {' '.join(owner_keys)} " if owner_keys else None,
        # The owners' UIDs: a name alone would also match a recreated owner, whose new
        # UID its old dependents do not name.
        "owner_uids": _names(o.get("uid") for o in owners) or None,
        "controller_kind": controller.get("kind") if controller else None,
        "controller_name": controller.get("name") if controller else None,
        "k8s.owner.kind": controller.get("kind") if controller else None,
        "k8s.owner.name": controller.get("name") if controller else None,
        "k8s.namespace.name": namespace,
    }
    if spec.name_key:
        props[spec.name_key] = name
    if spec.uid_key:
        props[spec.uid_key] = meta.get("uid")
    return props


def _time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _pairs(mapping: Any) -> list[str]:
    if not isinstance(mapping, Mapping):
        return []
    return sorted(f"{k}={v}" for k, v in mapping.items())


def _names(values: Iterable[Any]) -> list[str]:
    """Sorted distinct non-empty strings."""
    return sorted({v for v in values if isinstance(v, str) and v})


_get, _list = status_rules.get_path, status_rules.as_list


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _conditions(obj: Obj) -> dict[str, str]:
    return {
        str(c.get("type")): str(c.get("status"))
        for c in _list(_get(obj, "status", "conditions"))
        if isinstance(c, Mapping)
    }


# --------------------------------------------------------------------------- per kind


def _pod(obj: Obj) -> Props:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers = [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in _list(spec.get(key))
        if isinstance(c, Mapping)
    ]
    volumes = [v for v in _list(spec.get("volumes")) if isinstance(v, Mapping)]
    projected = [
        s for v in volumes for s in _list(_get(v, "projected", "sources")) if isinstance(s, Mapping)
    ]
    env_from = [e for c in containers for e in _list(c.get("envFrom")) if isinstance(e, Mapping)]
    env = [_get(e, "valueFrom") for c in containers for e in _list(c.get("env"))]
    statuses = [
        s
        for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses")
        for s in _list(status.get(key))
        if isinstance(s, Mapping)
    ]
    conditions = _conditions(obj)
    return {
        "k8s.node.name": spec.get("nodeName"),
        "service_account": spec.get("serviceAccountName") or spec.get("serviceAccount"),
        "claim_names": _names(_get(v, "persistentVolumeClaim", "claimName") for v in volumes),
        "configmap_names": _names(
            [_get(v, "configMap", "name") for v in volumes]
            + [_get(s, "configMap", "name") for s in projected]
            + [_get(e, "configMapRef", "name") for e in env_from]
            + [_get(e, "configMapKeyRef", "name") for e in env]
        ),
        "secret_names": _names(
            [_get(v, "secret", "secretName") for v in volumes]
            + [_get(s, "secret", "name") for s in projected]
            + [_get(e, "secretRef", "name") for e in env_from]
            + [_get(e, "secretKeyRef", "name") for e in env]
            + [_get(s, "name") for s in _list(spec.get("imagePullSecrets"))]
        ),
        "containers": [str(c.get("name")) for c in containers if c.get("name")],
        "images": _names(c.get("image") for c in containers),
        "container_ids": _names(
            str(s["containerID"]).partition("://")[2] or s["containerID"]
            for s in statuses
            if s.get("containerID")
        ),
        "phase": status.get("phase"),
        "restarts": sum(_int(s.get("restartCount")) or 0 for s in statuses),
        "conditions": sorted(f"{k}={v}" for k, v in conditions.items()),
        "ready": conditions.get("Ready") == "True",
    }


def _node(obj: Obj) -> Props:
    return {"node_ready": _conditions(obj).get("Ready") == "True"}


def _pvc(obj: Obj) -> Props:
    return {
        "volume_name": _get(obj, "spec", "volumeName"),
        "storage_class": _get(obj, "spec", "storageClassName"),
        "phase": _get(obj, "status", "phase"),
    }


def _pv(obj: Obj) -> Props:
    return {
        "claim_namespace": _get(obj, "spec", "claimRef", "namespace"),
        "claim_name": _get(obj, "spec", "claimRef", "name"),
        "storage_class": _get(obj, "spec", "storageClassName"),
        "phase": _get(obj, "status", "phase"),
    }


def _storage_class(obj: Obj) -> Props:
    return {"provisioner": obj.get("provisioner")}


def _service(obj: Obj) -> Props:
    return {
        "selector": _pairs(_get(obj, "spec", "selector")),
        "service_type": _get(obj, "spec", "type"),
    }


def _endpoint_slice(obj: Obj) -> Props:
    refs = [_get(e, "targetRef") for e in _list(obj.get("endpoints"))]
    return {
        "k8s.service.name": _get(obj, "metadata", "labels", "kubernetes.io/service-name"),
        "target_pods": _names(_get(r, "name") for r in refs if _get(r, "kind") == "Pod"),
    }


def _ingress(obj: Obj) -> Props:
    spec = obj.get("spec") or {}
    backends = [spec.get("defaultBackend")] + [
        _get(p, "backend")
        for rule in _list(spec.get("rules"))
        for p in _list(_get(rule, "http", "paths"))
    ]
    return {"backend_services": _names(_get(b, "service", "name") for b in backends)}


def _selector(selector: Any) -> Props:
    """matchLabels as ``key=value``; an ``In`` with one value is the same test."""
    pairs = _pairs(_get(selector, "matchLabels"))
    others = []
    for expr in _list(_get(selector, "matchExpressions")):
        key, op, values = _get(expr, "key"), _get(expr, "operator"), _list(_get(expr, "values"))
        if op == "In" and len(values) == 1:
            pairs.append(f"{key}={values[0]}")
        else:
            others.append(f"{key} {op} {','.join(str(v) for v in values)}".rstrip())
    return {"selector": sorted(set(pairs)), "selector_expressions": sorted(others)}


def _workload(obj: Obj) -> Props:
    """Deployment, ReplicaSet, StatefulSet: the API defaults spec.replicas; a status
    leaves zero counts out."""
    props = _selector(_get(obj, "spec", "selector"))
    replicas = _int(_get(obj, "spec", "replicas"))
    if replicas is not None:
        props["replicas"] = replicas
        props["ready_replicas"] = _int(_get(obj, "status", "readyReplicas")) or 0
    return props


def _stateful_set(obj: Obj) -> Props:
    templates = _list(_get(obj, "spec", "volumeClaimTemplates"))
    return {
        **_workload(obj),
        "claim_templates": _names(_get(t, "metadata", "name") for t in templates),
    }


def _daemon_set(obj: Obj) -> Props:
    # A DaemonSet's replicas are the nodes it should run on.
    return {
        **_selector(_get(obj, "spec", "selector")),
        "replicas": _int(_get(obj, "status", "desiredNumberScheduled")) or 0,
        "ready_replicas": _int(_get(obj, "status", "numberReady")) or 0,
    }


def _job(obj: Obj) -> Props:
    return _selector(_get(obj, "spec", "selector"))


def _cron_job(obj: Obj) -> Props:
    return {"schedule": _get(obj, "spec", "schedule")}


def _hpa(obj: Obj) -> Props:
    target = _get(obj, "spec", "scaleTargetRef") or {}
    return {
        "target_kind": target.get("kind"),
        "target_name": target.get("name"),
        "target_api_version": target.get("apiVersion"),
    }


def _pdb(obj: Obj) -> Props:
    return _selector(_get(obj, "spec", "selector"))


def _event(obj: Obj) -> Props:
    """A core/v1 Event (``involvedObject``, ``message``, ``count``) or an events.k8s.io/v1
    one (``regarding``, ``note``, ``deprecatedCount``): the same properties for both."""
    if "regarding" in obj and "involvedObject" not in obj:  # events.k8s.io/v1
        about, note = obj.get("regarding") or {}, obj.get("note")
        last, count = obj.get("deprecatedLastTimestamp"), obj.get("deprecatedCount")
    else:
        about, note = obj.get("involvedObject") or {}, obj.get("message")
        last, count = obj.get("lastTimestamp"), obj.get("count")
    series = obj.get("series") or {}
    when = (
        series.get("lastObservedTime")
        or obj.get("eventTime")
        or last
        or _get(obj, "metadata", "creationTimestamp")
    )
    return {
        "k8s.object.kind": about.get("kind"),
        "k8s.object.name": about.get("name"),
        "k8s.object.uid": about.get("uid"),
        "k8s.object.api_version": about.get("apiVersion"),
        "regarding_namespace": about.get("namespace"),
        "reason": obj.get("reason"),
        "type": obj.get("type"),
        "note": note,
        "count": _int(series.get("count")) or _int(count) or 1,
        "event_time": _time(when),
    }


_FIELDS: dict[str, Callable[[Obj], Props]] = {
    "Pod": _pod,
    "Node": _node,
    "PersistentVolumeClaim": _pvc,
    "PersistentVolume": _pv,
    "StorageClass": _storage_class,
    "Service": _service,
    "EndpointSlice": _endpoint_slice,
    "Ingress": _ingress,
    "Deployment": _workload,
    "ReplicaSet": _workload,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
    "Job": _job,
    "CronJob": _cron_job,
    "HorizontalPodAutoscaler": _hpa,
    "PodDisruptionBudget": _pdb,
    "Event": _event,
}


# --------------------------------------------------------------------------- custom resources

_NAME_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9]*Name$")
_REF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9]*Ref$")


def _custom_fields(obj: Obj) -> Props:
    """Top-level spec fields that name other objects, so that rule discovery can find
    them: ``fooName: x`` as ``name_fooName``, ``fooRef: {kind, name}`` as ``ref_fooRef``
    (``Kind/name``; ``name_fooRef`` when it has no kind); ``spec.selector`` as
    ``selector`` and ``selector_expressions``."""
    spec = obj.get("spec")
    props: Props = {}
    if not isinstance(spec, Mapping):
        return props
    # spec.selector, a label selector, for rule discovery to find what the kind selects
    # (a ServiceMonitor's Services, a PodMonitor's Pods: the CRD's schema says which).
    selector = spec.get("selector")
    if isinstance(selector, Mapping) and (
        "matchLabels" in selector or "matchExpressions" in selector
    ):
        props.update(_selector(selector))
    for field, value in spec.items():
        if _NAME_FIELD.match(field) and isinstance(value, str) and value:
            _put(props, f"name_{field}", value)
        elif _REF_FIELD.match(field) and isinstance(value, Mapping):
            name, kind = value.get("name"), value.get("kind")
            if isinstance(name, str) and name:
                if isinstance(kind, str) and kind:
                    _put(props, f"ref_{field}", f"{kind}/{name}")
                else:
                    _put(props, f"name_{field}", name)
    return props


def _put(props: Props, key: str, value: str) -> None:
    if identifiers.PROPERTY_KEY.fullmatch(key):
        props[key] = value


__all__ = ["SOURCE", "UNREPRESENTABLE", "object_ref", "to_row"]
