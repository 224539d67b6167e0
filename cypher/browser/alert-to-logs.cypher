// korrel8: an alert -> its logs.
// The shortest rule chains (at most 4 edges, all still holding) from the alerts named
// $alertname that exist now to the log streams they lead to; each edge shows its rule.
// Set the parameter first:  :param alertname => 'KubePersistentVolumeFillingUp'
MATCH (a:Alert {alertname: $alertname})
WHERE a.deleted_at IS NULL
MATCH p = ALL SHORTEST (a)
  (()-[r]->(x) WHERE r.valid_to IS NULL AND x.deleted_at IS NULL){1,4}
  (l:Log)
RETURN p
LIMIT 200
