#!/usr/bin/env bash
# Runs every test of dialin-bridge: go vet, then go test -race over all packages, including the
# end-to-end tests that drive the built binary with real socket.io-client 2.x clients (node),
# Debian's chromium (driven by playwright-core), Debian's firefox-esr (puppeteer-core) and a
# real redis-server, then every benchmark
# once. On a fresh Debian machine it installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# npm packages: the end-to-end clients and the load tool's subscribers.
for dir in test/e2e bench; do
  [ -f "$dir/package-lock.json" ] || continue
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# Chromium for the browser tests: Debian's package (playwright-core drives /usr/bin/chromium;
# it downloads no browser of its own).
if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Firefox for the console's Firefox test: Debian's firefox-esr, driven by puppeteer-core over
# WebDriver BiDi (test/e2e/firefox.js).
if [ ! -x /usr/bin/firefox-esr ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firefox-esr >/dev/null
fi

# promtool, for the alerting rules' tests and the check of every PromQL expression of the
# dashboard and the rules (Debian's prometheus package carries it).
if ! command -v promtool >/dev/null; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi

# systemd-analyze, to verify the example systemd unit (deploy/systemd).
if ! command -v systemd-analyze >/dev/null; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

# Redis: use the one on 127.0.0.1:6379 if it answers, else start one (installing it if need be).
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    as_root apt-get update -qq && as_root apt-get install -y -qq redis-server >/dev/null
  fi
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --pidfile /tmp/dialin-bridge-test-redis.pid --logfile /tmp/dialin-bridge-test-redis.log
  trap 'kill "$(cat /tmp/dialin-bridge-test-redis.pid)" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "redis-server did not start" >&2; exit 1; }
fi
export DIALIN_TEST_REDIS_URL="${DIALIN_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

go vet ./...
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
go test -race -count=1 -timeout 30m ./...
# Every benchmark once, so that none breaks unseen (their timings are not checked here).
if ! out=$(go test -run '^$' -bench . -benchtime 1x -count=1 ./... 2>&1); then
  echo "$out" >&2
  exit 1
fi
