#!/usr/bin/env bash
# Installs Debian's Chromium for test/play-browser.test.ts: headless, WebGL2 through its bundled
# SwiftShader, driven over the DevTools protocol by playwright-core (no browser download).
# Idempotent: runs apt-get only when the package is missing. Needs root (or sudo).
# --no-install-recommends: about 20 s here (fonts and desktop integration are not needed headless).
set -euo pipefail
packages=(chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "browser-deps: all present (${packages[*]})"
  exit 0
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "browser-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
