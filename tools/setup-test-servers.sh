#!/usr/bin/env bash
# Installs every real server the test suite runs against, for `make test` and CI alike:
# Java 17 and Maven (the local Neo4j), Debian's Prometheus, Alertmanager and Pushgateway,
# Chromium and Graphviz (the investigation graph), kube-apiserver and etcd built from their Go
# modules, and the Neo4j jars. Idempotent: what is present is skipped, so a warm run takes
# seconds. Cold: about 15 minutes, most of it building kube-apiserver (cached in
# ~/.cache/korrel8 with the Neo4j jars). Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Java 17 and Maven run the local Neo4j; python3-venv builds the virtualenv.
command -v java >/dev/null && java -version 2>&1 | grep -Eq 'version "(17|21)' || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven
# Go builds kube-apiserver; an old Debian Go fetches the toolchain go.mod asks for through the module proxy.
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || apt_install golang-go
export PATH="$PATH:/usr/local/go/bin"
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

SUDO="$SUDO" bash tools/install-prom.sh
SUDO="$SUDO" bash tools/install-chromium.sh
bash tools/build-kube.sh

# Fetch the Neo4j jars once, before the timed tests.
make --no-print-directory venv
.venv/bin/python -c 'from korrel8.config import LocalNeo4jSettings as S; from korrel8.graph.localdb import jar_dir; print("setup: neo4j jars in", jar_dir(S(), print))'
