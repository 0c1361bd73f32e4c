#!/usr/bin/env bash
# Refreshes the socket.io 2.x browser bundle the console serves (console/static/vendor/):
# dist/socket.io.js of the npm package socket.io-client at VERSION (default 2.5.0), and its
# LICENSE, taken from the registry's tarball through npm. Commit the result; the e2e test
# TestConsoleBundleIsNPMs checks it against test/e2e's socket.io-client, so bump that too.
#
#   bash scripts/vendor-socketio.sh [VERSION]
set -euo pipefail
version="${1:-2.5.0}"
case "$version" in 2.5.*) ;; *) echo "socket.io-client $version: the bridge speaks socket.io 2.x; use 2.5.x" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "socket.io-client@$version" >/dev/null && tar xzf socket.io-client-*.tgz)
dest="$root/console/static/vendor"
mkdir -p "$dest"
cp "$tmp/package/dist/socket.io.js" "$dest/socket.io.js"
cp "$tmp/package/LICENSE" "$dest/socket.io-client.LICENSE"
head -3 "$dest/socket.io.js"
echo "vendored socket.io-client $version into $dest"
