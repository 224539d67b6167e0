#!/usr/bin/env bash
# Build (or reuse from cache) the Kubernetes control-plane binaries korrel8's tests run:
#   kube-apiserver  built from the k8s.io/kubernetes Go module (tools/kube-apiserver/go.mod
#                   pins the version) through the Go module proxy, cached outside the repo
#                   in ${KORREL8_KUBE_CACHE:-~/.cache/korrel8}/kube-<version>/kube-apiserver
#   etcd            Debian's etcd-server package (/usr/bin/etcd), installed with apt if absent
#
# Idempotent: a second run only checks the cache. Prints the paths as KEY=VALUE lines on
# stdout (progress goes to stderr), e.g.  eval "$(tools/build-kube.sh)"
#   KUBE_VERSION=v1.37.2
#   KORREL8_KUBE_APISERVER=/root/.cache/korrel8/kube-v1.37.2/kube-apiserver
#   KORREL8_ETCD=/usr/bin/etcd
# tests/servers/kube.py finds the binaries at the same places (or via those variables).
#
# Environment: GO (go binary; default: go on PATH, else /usr/local/go/bin/go),
# KORREL8_KUBE_CACHE (cache root), KORREL8_BUILD_JOBS (go build -p, default 2),
# KORREL8_ETCD (use this etcd binary instead of Debian's).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
moddir="$here/kube-apiserver"

die() { echo "build-kube.sh: error: $*" >&2; exit 1; }
log() { echo "build-kube.sh: $*" >&2; }

[[ -f "$moddir/go.mod" ]] || die "missing $moddir/go.mod"
version="$(awk '$1 == "require" { $1 = "" ; $0 = $0 }
               $1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$moddir/go.mod")"
[[ "$version" =~ ^v1\.[0-9]+\.[0-9]+$ ]] \
  || die "cannot read the k8s.io/kubernetes version from $moddir/go.mod (got '$version')"

cache_root="${KORREL8_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/korrel8}"
cache="$cache_root/kube-$version"
apiserver="$cache/kube-apiserver"
mkdir -p "$cache"

# The stamp ties the cached binary to the exact wrapper module it was built from, so an edit
# of go.mod/go.sum/main.go without a version bump still rebuilds.
stamp_of() { cat "$moddir/go.mod" "$moddir/go.sum" "$moddir/main.go" | sha256sum | cut -d' ' -f1; }

find_go() {
  if [[ -n "${GO:-}" ]]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else return 1
  fi
}

build_apiserver() {
  local go tmp major minor start
  go="$(find_go)" || die "no Go toolchain found (set GO=/path/to/go); Go >= 1.26 is needed"
  major="${version#v}"; major="${major%%.*}"
  minor="${version#v*.}"; minor="${minor%%.*}"
  # Same -X flags as upstream's hack/lib/version.sh, so /version and the binary's
  # --version report the real release instead of v0.0.0-master.
  local ldflags="-s -w"
  local pkg key val
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for key in gitVersion:"$version" gitMajor:"$major" gitMinor:"$minor" \
               gitTreeState:clean buildDate:1970-01-01T00:00:00Z; do
      val="${key#*:}"; key="${key%%:*}"
      ldflags+=" -X $pkg.$key=$val"
    done
  done
  tmp="$cache/kube-apiserver.tmp.$$"
  log "building kube-apiserver $version with $("$go" version | cut -d' ' -f3) (cold: ~10 min on 2 cores)"
  start=$SECONDS
  (
    cd "$moddir"
    CGO_ENABLED=0 GOFLAGS=-mod=readonly GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" \
      "$go" build -p "${KORREL8_BUILD_JOBS:-2}" -trimpath -ldflags "$ldflags" -o "$tmp" .
  ) || { rm -f "$tmp"; die "go build of kube-apiserver $version failed (see the output above)"; }
  "$tmp" --version >/dev/null || { rm -f "$tmp"; die "the built kube-apiserver does not run"; }
  mv -f "$tmp" "$apiserver"
  stamp_of > "$apiserver.stamp"
  log "built $apiserver in $((SECONDS - start)) s ($(du -h "$apiserver" | cut -f1))"
}

ensure_etcd() {
  if [[ -n "${KORREL8_ETCD:-}" ]]; then
    [[ -x "$KORREL8_ETCD" ]] || die "KORREL8_ETCD=$KORREL8_ETCD is not an executable"
    echo "$KORREL8_ETCD"; return
  fi
  if [[ ! -x /usr/bin/etcd ]]; then
    command -v apt-get >/dev/null 2>&1 || die "etcd is missing and apt-get is not available"
    log "installing Debian's etcd-server with apt-get"
    local sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    # The package's service is not wanted: the harness starts its own etcd per test session.
    # policy-rc.d answers 101 ("action forbidden") for the duration of the install.
    local policy=/usr/sbin/policy-rc.d created_policy=""
    if [[ ! -e "$policy" && -z "$sudo" ]]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
    fi
    { $sudo apt-get install -y --no-install-recommends etcd-server >&2 \
      || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends etcd-server >&2; }; } \
      || { [[ -n "$created_policy" ]] && rm -f "$policy"; die "apt-get install etcd-server failed"; }
    [[ -n "$created_policy" ]] && rm -f "$policy"
    # Debian starts (or enables) a system etcd on 127.0.0.1:2379; the harness uses free ports
    # so it does not conflict, but do not leave a stray daemon running where we can stop it.
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
    fi
  fi
  [[ -x /usr/bin/etcd ]] || die "etcd-server is installed but /usr/bin/etcd is missing"
  echo /usr/bin/etcd
}

# One build at a time per version (parallel CI jobs or developers sharing a cache).
exec 9>"$cache/.lock"
flock 9

if [[ -x "$apiserver" && -f "$apiserver.stamp" && "$(cat "$apiserver.stamp")" == "$(stamp_of)" ]]; then
  log "reusing $apiserver"
else
  build_apiserver
fi
etcd="$(ensure_etcd)"

echo "KUBE_VERSION=$version"
echo "KORREL8_KUBE_APISERVER=$apiserver"
echo "KORREL8_ETCD=$etcd"
