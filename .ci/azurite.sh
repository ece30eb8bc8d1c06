#!/usr/bin/env bash
# Azurite (Microsoft's Azure Storage emulator) for the blob-lease lock tests.
#
#   bash .ci/azurite.sh install   install azurite@3.35.0 into node_modules/ at the repo root (idempotent, quiet)
#   bash .ci/azurite.sh path      print the path of the azurite-blob launcher (exit 1 when not installed)
#
# 3.35.0 is the newest Azurite release that runs on Node.js 20. The tests start and stop their own
# azurite-blob on a free loopback port (tests/azurite.py); this script only installs it.
set -euo pipefail

AZURITE_VERSION="3.35.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/node_modules/.bin/azurite-blob"
PKG="$ROOT/node_modules/azurite/package.json"

installed_version() {
  [ -x "$BIN" ] && [ -f "$PKG" ] || return 1
  node -p "require(process.argv[1]).version" "$PKG" 2>/dev/null
}

case "${1:-install}" in
  install)
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
      echo "azurite.sh: Node.js/npm not found; the Azurite-backed tests will be skipped" >&2
      exit 0
    fi
    if [ "$(installed_version || true)" = "$AZURITE_VERSION" ]; then
      exit 0
    fi
    # --no-save/--no-package-lock: the repo root has no package.json of its own, and node_modules/ is
    # git-ignored, so nothing in the work tree changes except node_modules/.
    log="$(mktemp)"
    if ! (cd "$ROOT" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
          "azurite@$AZURITE_VERSION") >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      echo "azurite.sh: npm install azurite@$AZURITE_VERSION failed" >&2
      exit 1
    fi
    rm -f "$log"
    if [ "$(installed_version || true)" != "$AZURITE_VERSION" ]; then
      echo "azurite.sh: azurite@$AZURITE_VERSION did not install into $ROOT/node_modules" >&2
      exit 1
    fi
    ;;
  path)
    if [ -x "$BIN" ]; then echo "$BIN"; else exit 1; fi
    ;;
  *)
    echo "usage: bash .ci/azurite.sh install|path" >&2
    exit 2
    ;;
esac
