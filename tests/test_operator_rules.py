"""OLM and KubeVirt: objects shaped as their operators serve them (tests/data/operators,
with provenance) become nodes whose fields the rules of cypher/rules/olm.yaml and
kubevirt.yaml join on, in the real Neo4j; each link below is one a user follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.k8s.kinds import KindSpec, known_kinds
from ingest.k8s.rows import to_row
from korrel8 import rules
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store
from korrel8.rules import runner as rule_runner
from tests.graph import edges

DATA = Path(__file__).parent / "data" / "operators"
ALL = rules.load()
FILES = {"olm.yaml", "kubevirt.yaml"}
FAMILY = {r.name for r in ALL if Path(r.origin.rsplit(":", 1)[0]).name in FILES}


def spec_of(obj: dict[str, Any]) -> KindSpec:
    """The built-in kind, else the custom resource API discovery would find."""
    group, _, version = obj["apiVersion"].rpartition("/")
    for spec in known_kinds():
        if (spec.group, spec.kind) == (group, obj["kind"]) and spec.listed:
            return spec
    namespaced = bool(obj["metadata"].get("namespace"))
    plural = obj["kind"].lower() + "s"
    return KindSpec(
        kind=obj["kind"], group=group, version=version, plural=plural,
        namespaced=namespaced, custom=True,
    )  # fmt: skip


def rows(name: str) -> list[NodeRow]:
    objects = yaml.safe_load((DATA / name).read_text())
    return [to_row(obj, spec_of(obj), "c1") for obj in objects]


def linked(store: Store) -> set[tuple[str, str, str]]:
    """(rule, start name, goal name) of the family's open edges."""

    def name(ref: str) -> str:
        return ref.split('"name":"')[1].split('"')[0]

    return {
        (p["rule"], name(a), name(b))
        for (a, _, b), p in edges(store).items()
        if p["rule"] in FAMILY and p.get("valid_to") is None
    }


def test_fields_are_read_from_the_objects() -> None:
    got = {row.name: row.properties for row in rows("olm.yaml") + rows("kubevirt.yaml")}
    assert got["etcd"]["current_csv"] == "etcdoperator.v0.9.4"
    assert got["etcdoperator.v0.9.4"]["part_of"] == "etcdoperator"
    assert got["etcdoperator.v0.9.4"]["owned_crds"] == [
        "etcdbackups.etcd.database.coreos.com",
        "etcdclusters.etcd.database.coreos.com",
    ]
    refs = got["etcd.operators"]["component_refs"]
    assert isinstance(refs, list) and "Subscription/operators/etcd" in refs
    assert got["etcdclusters.etcd.database.coreos.com"]["crd_class"] == (
        "EtcdCluster.etcd.database.coreos.com"
    )
    assert got["example"]["custom_resource"] is True
    vm = got["vm-alpine-datavolume"]
    assert vm["secret_names"] and "node_name" in vm  # the VMI's row came last
    assert got["vm-multus-multiple-net"]["network_names"] == ["ptp-conf"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            ["olm.yaml"],
            {
                ("subscription-to-csv", "etcd", "etcdoperator.v0.9.4"),
                ("subscription-to-install-plan", "etcd", "install-5xq2d"),
                ("install-plan-to-csv", "install-5xq2d", "etcdoperator.v0.9.4"),
                ("subscription-to-catalog-source", "etcd", "community-operators"),
                ("csv-to-crd", "etcdoperator.v0.9.4", "etcdclusters.etcd.database.coreos.com"),
                ("csv-to-deployment", "etcdoperator.v0.9.4", "etcd-operator"),
                ("operator-to-crd", "etcd.operators", "etcdclusters.etcd.database.coreos.com"),
                ("operator-to-csv", "etcd.operators", "etcdoperator.v0.9.4"),
                ("operator-to-subscription", "etcd.operators", "etcd"),
                ("crd-to-instances", "etcdclusters.etcd.database.coreos.com", "example"),
                ("csv-to-part-of", "etcdoperator.v0.9.4", "etcd-operator"),
                ("instance-to-operands", "example", "example-client"),
            },
        ),
        (
            ["kubevirt.yaml"],
            {
                ("vm-to-vmi", "vm-alpine-datavolume", "vm-alpine-datavolume"),
                ("vmi-to-pod", "vm-alpine-datavolume", "virt-launcher-vm-alpine-datavolume-x7kq2"),
                ("vmi-to-node", "vm-alpine-datavolume", "worker-1"),
                ("node-to-vmi", "worker-1", "vm-alpine-datavolume"),
                ("vm-to-pvc", "vm-alpine-datavolume", "alpine-dv"),
                ("vmi-to-pvc", "vm-alpine-datavolume", "alpine-dv"),
                ("vm-to-data-volume", "vm-alpine-datavolume", "alpine-dv"),
                ("vmi-to-data-volume", "vm-alpine-datavolume", "alpine-dv"),
                ("data-volume-to-pvc", "alpine-dv", "alpine-dv"),
                ("data-volume-to-importer-pod", "alpine-dv", "importer-alpine-dv"),
                ("vmim-to-vmi", "migration-job", "vm-alpine-datavolume"),
                ("vmi-to-vmim", "vm-alpine-datavolume", "migration-job"),
                ("vm-snapshot-to-vm", "snap-alpine", "vm-alpine-datavolume"),
                ("vm-to-vm-snapshot", "vm-alpine-datavolume", "snap-alpine"),
                ("vm-restore-to-vm", "restore-alpine", "vm-alpine-datavolume"),
                ("vm-to-vm-restore", "vm-alpine-datavolume", "restore-alpine"),
                ("vm-restore-to-vm-snapshot", "restore-alpine", "snap-alpine"),
                ("vm-export-to-vm", "export-alpine", "vm-alpine-datavolume"),
                ("vm-to-net-attach-def", "vm-multus-multiple-net", "ptp-conf"),
                ("vm-to-secret", "vm-alpine-datavolume", "my-pub-key"),
                ("vm-to-secret", "vm-alpine-datavolume", "app-secret"),
                ("vmi-to-secret", "vm-alpine-datavolume", "app-secret"),
                # Its kind says the namespaced one, not the cluster-scoped namesake.
                ("vm-to-instancetype", "vm-cirros-csmall", "csmall"),
            },
        ),
    ],
    ids=["olm", "kubevirt"],
)
def test_operator_objects_link_as_a_user_follows_them(
    store: Store, files: list[str], expected: set[tuple[str, str, str]]
) -> None:
    store.upsert_nodes([row for name in files for row in rows(name)])
    rule_runner.apply(store, [r for r in ALL if r.name in FAMILY and r.enabled], full=True)
    assert linked(store) == expected
    # The namespaced instancetype, not the cluster-scoped one of the same name.
    if "kubevirt.yaml" in files:
        instancetype = [
            b for (a, _, b), p in edges(store).items() if p["rule"] == "vm-to-instancetype"
        ]
        assert instancetype == [instancetype[0]] and '"namespace":"vms"' in instancetype[0]
