#!/usr/bin/env bash
# Side by side: bench/floor, the Node peer (bench/peer) and the bridge, each started afresh
# for every run (the bridge in production mode on a fresh bolt directory), run by the load
# tool at 50, 150 and 500 dial-ins/s and at saturation (2000 calls, 32 in flight), with 20
# subscribers, in rounds that alternate the servers. Prints one line per run and then, per
# rate and server, the median and range of the CPU per whole dial-in, the join rate and the
# memory per online call. docs/performance.md shows what it printed.
#
#   bash bench/sidebyside.sh [rounds] [git revisions of earlier bridges...]
#
# Each earlier bridge is built from its own worktree and named by its revision.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
befores=("$@")
work=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for rev in "${befores[@]}"; do git worktree remove --force "$work/tree-$rev" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef DIALIN_JWT_SECRET=bench-secret
addr=127.0.0.1:8080
(cd bench && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
go build -o "$work/loadtool" ./bench
go build -o "$work/floor" ./bench/floor
go build -o "$work/after" ./cmd/dialin-bridge
servers="floor peer"
for rev in "${befores[@]}"; do
  git worktree add --force --detach "$work/tree-$rev" "$rev" >/dev/null
  (cd "$work/tree-$rev" && go build -o "$work/$rev" ./cmd/dialin-bridge)
  servers="$servers $rev"
done
servers="$servers after"

start() { # start SERVER; sets pid
  case $1 in
    floor) "$work/floor" -addr $addr >/dev/null 2>&1 & ;;
    peer) node bench/peer/peer.js -addr $addr -auth-token "$TWILIO_AUTH_TOKEN" -jwt-secret "$DIALIN_JWT_SECRET" >/dev/null 2>&1 & ;;
    *) rooms=cmd/dialin-bridge/example-rooms.json
       [ "$1" != after ] && rooms=$work/tree-$1/cmd/dialin-bridge/example-rooms.json
       env DIALIN_PUBLIC_URL=http://$addr TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 \
         DIALIN_TWILIO_API_URL=http://127.0.0.1:9 DIALIN_ROOMS_FILE=$rooms DIALIN_DATA_DIR="$(mktemp -d -p "$work")" \
         DIALIN_LISTEN_ADDR=$addr "$work/$1" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "http://$addr/metrics" && return; sleep 0.1; done
  echo "$1 did not start" >&2; exit 1
}

for _ in $(seq "$rounds"); do
  for rate in 50 150 500 saturation; do
    case $rate in
      saturation) args=(-calls 2000 -concurrency 32) ;;
      *) args=(-rate "$rate" -calls $((rate * 10 > 750 ? rate * 10 : 750))) ;;
    esac
    for s in $servers; do
      start "$s"
      report=$("$work/loadtool" -url "http://$addr" -auth-token "$TWILIO_AUTH_TOKEN" -jwt-secret "$DIALIN_JWT_SECRET" \
        -subscribers 20 -fail-on-loss "${args[@]}" | tail -1)
      kill "$pid"; wait "$pid" 2>/dev/null || true
      echo "$s $rate $report" | tee -a "$work/runs"
    done
  done
done

python3 - "$work/runs" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    server, rate, report = line.split(' ', 2)
    runs.setdefault((rate, server), []).append(json.loads(report))
def fig(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"
print("\n| rate | server | CPU per dial-in, ms | joins/s | memory per online call, KB | lost |")
print("|---|---|---|---|---|---|")
for (rate, server), reps in runs.items():
    print(f"| {rate} | {server} | {fig([r['bridge_cpu_us_per_dialin'] / 1000 for r in reps], lambda v: f'{v:.2f}')} "
          f"| {fig([r['join_calls_per_sec'] for r in reps], lambda v: f'{v:.0f}')} "
          f"| {fig([r['rss_bytes_per_online_call'] / 1000 for r in reps], lambda v: f'{v:.1f}')} "
          f"| {sum(r['events_lost'] for r in reps)} of {sum(r['events_expected'] for r in reps)} |")
PY
