#!/usr/bin/env bash
# Re-fetches the graph library that the HTML investigation graph bundles
# (korrel8/render/assets/), with npm, at the pinned version. npm checks the tarball
# against the registry's integrity hash; the file's sha256 is recorded beside it so
# that a review sees any change. Run it after changing VERSION, then commit the assets.
set -euo pipefail
NAME=cytoscape
VERSION=3.34.4

cd "$(dirname "$0")/.."
dest=korrel8/render/assets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$NAME@$VERSION" >/dev/null)
tar -xzf "$tmp/$NAME-$VERSION.tgz" -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/cytoscape.min.js" "$dest/cytoscape.min.js"
cp "$tmp/package/LICENSE" "$dest/cytoscape.LICENSE"
integrity=$(npm view "$NAME@$VERSION" dist.integrity)
sha=$(sha256sum "$dest/cytoscape.min.js" | cut -d' ' -f1)
cat >"$dest/cytoscape.VERSION" <<META
name: $NAME
version: $VERSION
license: MIT (cytoscape.LICENSE)
file: dist/cytoscape.min.js
npm-integrity: $integrity
sha256: $sha
META
echo "vendor-js: $NAME $VERSION -> $dest/cytoscape.min.js ($sha)"
