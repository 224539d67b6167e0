#!/usr/bin/env bash
# Build (or reuse from cache) the Kubernetes control-plane binaries korrel8's tests run, each
# from a small wrapper module through the Go module proxy (the modules pin the versions):
#   kube-apiserver  tools/kube-apiserver (k8s.io/kubernetes)
#   etcd            tools/etcd (go.etcd.io/etcd/server/v3). Debian bookworm's etcd-server
#                   3.4.23 starts, but kube-apiserver v1.37 needs RequestWatchProgress
#                   (etcd >= 3.4.31/3.5.13): with 3.4.23 watches from resourceVersion ""/"0" fail.
# Both go to ${KORREL8_KUBE_CACHE:-~/.cache/korrel8}/kube-<kubernetes version>/, outside the
# repository; a stamp (hash of the wrapper module's files) beside each binary says which
# module it was built from, so editing a wrapper module rebuilds it.
#
# Idempotent: with the cache in place a run takes well under a second. A cold build takes
# ~12 min for kube-apiserver and ~2 min for etcd on 2 cores, plus ~1 GiB of module downloads.
# Prints the paths as KEY=VALUE lines on stdout (progress goes to stderr), e.g.
#   eval "$(tools/build-kube.sh)"
#   KUBE_VERSION=v1.37.2
#   KORREL8_KUBE_APISERVER=/root/.cache/korrel8/kube-v1.37.2/kube-apiserver
#   KORREL8_ETCD=/root/.cache/korrel8/kube-v1.37.2/etcd
# tests/servers/kube.py looks in the same places (or takes those variables).
#
# Environment: GO (go binary; default: go on PATH, else /usr/local/go/bin/go; Go >= 1.26),
# KORREL8_KUBE_CACHE (cache root), KORREL8_BUILD_JOBS (go build -p, default 2).
set -euo pipefail

# All in one function, parsed whole before it runs: editing this file (or a git checkout)
# during a long build cannot make bash read a changed script halfway.
main() {

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
mkdir -p "$cache"

find_go() {
  if [[ -n "${GO:-}" ]]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else return 1
  fi
}

# stamp_of MODULE_DIR: what the cached binary must have been built from.
stamp_of() { cat "$1/go.mod" "$1/go.sum" "$1/main.go" | sha256sum | cut -d' ' -f1; }

# build NAME MODULE_DIR LDFLAGS: build the wrapper module into $cache/NAME unless cached.
build() {
  local name="$1" dir="$2" ldflags="$3" out="$cache/$1" go tmp start
  if [[ -x "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$(stamp_of "$dir")" ]]; then
    log "reusing $out"
    return
  fi
  go="$(find_go)" || die "no Go toolchain found (set GO=/path/to/go); Go >= 1.26 is needed"
  tmp="$out.tmp.$$"
  log "building $name from $dir with $("$go" version | cut -d' ' -f3)"
  start=$SECONDS
  (
    cd "$dir"
    CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" \
      "$go" build -p "${KORREL8_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w $ldflags" -o "$tmp" .
  ) || { rm -f "$tmp"; die "go build of $name failed (see the output above)"; }
  "$tmp" --version >/dev/null || { rm -f "$tmp"; die "the built $name does not run"; }
  mv -f "$tmp" "$out"
  stamp_of "$dir" > "$out.stamp"
  log "built $out in $((SECONDS - start)) s ($(du -h "$out" | cut -f1))"
}

# Same -X flags as upstream's hack/lib/version.sh, so /version and --version report the
# release instead of v0.0.0-master.
kube_ldflags() {
  local major minor pkg key flags=""
  major="${version#v}"; major="${major%%.*}"
  minor="${version#v*.}"; minor="${minor%%.*}"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for key in gitVersion="$version" gitMajor="$major" gitMinor="$minor" \
               gitTreeState=clean buildDate=1970-01-01T00:00:00Z; do
      flags+=" -X $pkg.$key"
    done
  done
  echo "$flags"
}

# One build at a time per version (parallel CI jobs or developers sharing a cache).
exec 9>"$cache/.lock"
flock 9
trap 'rm -f "$cache"/*.tmp.$$' EXIT  # a build cut short leaves no half-written binary

build kube-apiserver "$moddir" "$(kube_ldflags)"
build etcd "$here/etcd" ""

echo "KUBE_VERSION=$version"
echo "KORREL8_KUBE_APISERVER=$cache/kube-apiserver"
echo "KORREL8_ETCD=$cache/etcd"
}

main "$@"
