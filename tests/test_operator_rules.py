"""OLM: objects shaped as OLM serves them (tests/data/operators, with provenance) become
nodes whose fields the rules of cypher/rules/olm.yaml join on, in the real Neo4j; each
link below is one a user follows."""

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
FILES = {"olm.yaml"}
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
    got = {row.name: row.properties for row in rows("olm.yaml")}
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
    ],
    ids=["olm"],
)
def test_operator_objects_link_as_a_user_follows_them(
    store: Store, files: list[str], expected: set[tuple[str, str, str]]
) -> None:
    store.upsert_nodes([row for name in files for row in rows(name)])
    rule_runner.apply(store, [r for r in ALL if r.name in FAMILY and r.enabled], full=True)
    assert linked(store) == expected
