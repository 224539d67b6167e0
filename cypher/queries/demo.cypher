// The demo's example for Neo4j Browser (`korrel8 demo` prints it to paste): the alert of
// the filling claim, the pods that mount the claim, and their log streams, over the
// edges that hold now. The cluster and alert are the demo's (korrel8/demo.py).
MATCH p = (:Alert {cluster: 'korrel8-demo', alertname: 'KubePersistentVolumeFillingUp'})
  -[:ABOUT]->(:PersistentVolumeClaim)-[:MOUNTED_BY]->(:Pod)-[:HAS_LOGS]->(:Log)
WHERE all(r IN relationships(p) WHERE r.valid_to IS NULL)
RETURN p
