#!/usr/bin/env bash
# Installs what the investigation-graph tests use (tests/test_html.py, tests/test_render.py):
# headless Chromium, to open the HTML file and screenshot it, and Graphviz, whose `dot`
# parses the DOT output. Idempotent: packages already present are skipped.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(chromium graphviz fonts-dejavu-core)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-chromium: apt-get install ${missing[*]}"
  ${SUDO:-} apt-get update -qq
  ${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for binary in chromium dot; do
  command -v "$binary" >/dev/null || { echo "install-chromium: $binary is missing" >&2; exit 1; }
done
echo "install-chromium: $(chromium --version 2>/dev/null | head -1); $(dot -V 2>&1 | head -1)"
