#!/usr/bin/env bash
# Installs Debian's Chromium for test/play-browser.test.ts: headless, WebGL2 through its bundled
# SwiftShader, driven over the DevTools protocol by playwright-core (no browser download).
# Idempotent (apt-install.sh runs apt-get only when a package is missing). Needs root (or sudo).
# --no-install-recommends: about 20 s here (fonts and desktop integration are not needed headless).
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" browser-deps chromium
