"""What tests rely on from the real Kubernetes API server harness (tests/servers/kube.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.servers.kube import (
    KubeServer,
    api_client,
    create_namespace,
    purge_namespace,
    rest,
    unique_name,
)


@pytest.fixture
def admin(kube: KubeServer) -> Iterator[k8s.ApiClient]:
    with kube.admin_client() as api:
        yield api


@pytest.fixture
def readonly(kube: KubeServer) -> Iterator[k8s.ApiClient]:
    with kube.readonly_client() as api:
        yield api


def configmap(name: str, **data: str) -> k8s.V1ConfigMap:
    return k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name=name, labels={"app": "korrel8"}), data=data
    )


def test_kubeconfig_files_work(kube: KubeServer) -> None:
    """The combined kubeconfig (admin is current) and the per-user files all authenticate."""
    for path in (kube.kubeconfig, kube.admin_kubeconfig, kube.readonly_kubeconfig):
        assert path is not None
        with api_client(path) as api:
            assert k8s.VersionApi(api).get_code().git_version.startswith("v1.")
    if kube.origin == "harness":
        assert kube.api_url.startswith("https://127.0.0.1:")
        with kube.admin_client() as api:
            assert k8s.VersionApi(api).get_code().git_version == kube.version


def test_admin_creates_and_lists_namespace_and_configmap(
    admin: k8s.ApiClient, kube_namespace: str
) -> None:
    core = k8s.CoreV1Api(admin)
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert kube_namespace in names
    assert "default" in names
    core.create_namespaced_config_map(kube_namespace, configmap("settings", level="debug"))
    found = core.list_namespaced_config_map(kube_namespace, label_selector="app=korrel8").items
    assert [(cm.metadata.name, cm.data) for cm in found] == [("settings", {"level": "debug"})]
    # A pod can be created (its ServiceAccount exists) though nothing will ever run it.
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="web"),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web", image="nginx")]),
    )
    created = core.create_namespaced_pod(kube_namespace, pod)
    assert created.spec.service_account_name == "default"
    assert created.status.phase == "Pending"


def test_admin_creates_crd_and_instance(
    kube: KubeServer, admin: k8s.ApiClient, kube_namespace: str
) -> None:
    group = f"t{secrets.token_hex(3)}.korrel8.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    ext = k8s.ApiextensionsV1Api(admin)
    ext.create_custom_resource_definition(crd)
    try:
        wait_established(ext, f"widgets.{group}")
        custom = k8s.CustomObjectsApi(admin)
        widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}}
        custom.create_namespaced_custom_object(
            group, "v1", kube_namespace, "widgets", {**widget, "spec": {"size": 3}}
        )
        items = custom.list_namespaced_custom_object(group, "v1", kube_namespace, "widgets")[
            "items"
        ]
        assert [(w["metadata"]["name"], w["spec"]["size"]) for w in items] == [("w1", 3)]

        # The read-only role covers the API groups present when it was made; refresh adds new ones.
        with kube.readonly_client() as ro:
            path = f"/apis/{group}/v1/namespaces/{kube_namespace}/widgets"
            with pytest.raises(ApiException) as denied:
                rest(ro, "GET", path)
            assert denied.value.status == 403
            kube.refresh_readonly()
            assert [w["metadata"]["name"] for w in rest(ro, "GET", path)["items"]] == ["w1"]
    finally:
        ext.delete_custom_resource_definition(f"widgets.{group}")


def wait_established(ext: k8s.ApiextensionsV1Api, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.1)
    raise AssertionError(f"CRD {name} not Established in {timeout} s")


def test_readonly_lists_pods_but_not_secrets(
    admin: k8s.ApiClient, readonly: k8s.ApiClient, kube_namespace: str
) -> None:
    k8s.CoreV1Api(admin).create_namespaced_secret(
        kube_namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="s"), string_data={"k": "v"})
    )
    core = k8s.CoreV1Api(readonly)
    assert core.list_namespaced_pod(kube_namespace).items == []
    core.list_pod_for_all_namespaces(limit=1)
    core.list_namespace(limit=1)
    k8s.AppsV1Api(readonly).list_deployment_for_all_namespaces(limit=1)
    for call in (
        lambda: core.list_namespaced_secret(kube_namespace),
        lambda: core.list_secret_for_all_namespaces(),
        lambda: core.read_namespaced_secret("s", kube_namespace),
        lambda: core.create_namespaced_config_map(kube_namespace, configmap("nope")),
    ):
        with pytest.raises(ApiException) as denied:
            call()
        assert denied.value.status == 403


def test_pagination_with_limit_and_continue(admin: k8s.ApiClient, kube_namespace: str) -> None:
    core = k8s.CoreV1Api(admin)
    created = {f"cm-{i:02d}" for i in range(7)}
    for name in created:
        core.create_namespaced_config_map(kube_namespace, configmap(name))
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        page = core.list_namespaced_config_map(
            kube_namespace, label_selector="app=korrel8", limit=3, _continue=token
        )
        pages.append([str(cm.metadata.name) for cm in page.items])
        token = page.metadata._continue
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(n for p in pages for n in p) == sorted(created)


def test_namespace_cleanup_leaves_nothing(kube: KubeServer, admin: k8s.ApiClient) -> None:
    """kube_namespace's teardown: without a namespace controller the harness empties and
    finalizes the namespace itself."""
    name = unique_name("cleanup")
    create_namespace(admin, name)
    core = k8s.CoreV1Api(admin)
    core.create_namespaced_config_map(name, configmap("a"))
    cm = configmap("held")
    cm.metadata.finalizers = ["korrel8.test/hold"]
    core.create_namespaced_config_map(name, cm)
    purge_namespace(admin, name, controllers=kube.controllers)
    if kube.controllers:
        return  # a real cluster's namespace controller finishes it
    assert name not in [ns.metadata.name for ns in core.list_namespace().items]
    leftovers = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={name}")
    assert leftovers.items == []


def test_watch_sees_changes(admin: k8s.ApiClient, kube_namespace: str) -> None:
    """Watches from a list's resourceVersion, and the streaming initial list (sendInitialEvents,
    which needs etcd's RequestWatchProgress: Debian's etcd 3.4.23 fails here)."""
    core = k8s.CoreV1Api(admin)
    core.create_namespaced_config_map(kube_namespace, configmap("before"))
    start = core.list_namespaced_config_map(kube_namespace).metadata.resource_version
    core.create_namespaced_config_map(kube_namespace, configmap("watched", n="1"))
    core.patch_namespaced_config_map("watched", kube_namespace, {"data": {"n": "2"}})
    core.delete_namespaced_config_map("watched", kube_namespace)
    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map, kube_namespace, resource_version=start, timeout_seconds=10
    ):
        events.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            break
    assert events == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]

    initial = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        kube_namespace,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        meta = event["raw_object"]["metadata"]  # a BOOKMARK's object is not deserialized
        if event["type"] == "BOOKMARK":
            if meta.get("annotations", {}).get("k8s.io/initial-events-end") == "true":
                break
            continue
        initial.append((event["type"], meta["name"]))
    else:
        raise AssertionError("no initial-events-end bookmark")
    assert initial == [("ADDED", "before")]
