#!/usr/bin/env bash
# bulk-load-bench.sh: the bulk-load measurement of issue 13 through the user's
# own tools. It writes DOCS synthetic documents of TERMS sparse terms each as
# JSONL, starts `shoal dev` (3 nodes, one process), creates a collection
# (2 shards, rf 3), loads the file with `shoalctl load --batch 10000`, and
# reports how many leader elections happened during the load (the rise of
# shoal_replication_term summed over every replica of every group, from
# /metrics) and how many node leases were lost (the "node lease lost" log
# lines of shoal dev), with the load's own summary.
#
#   scripts/bulk-load-bench.sh [DOCS] [TERMS]      (defaults 7000, 1500: about 132 MB)
#
# Everything listens on 127.0.0.1; the data directory is a fresh temp dir.
# SHOAL_PORT picks the HTTP port P (default 17800); SHOAL_DEV_FLAGS adds flags to
# shoal dev or shoal node (e.g. "--raft-heartbeat-timeout 3s"). SHOAL_MULTI=1
# runs a multi-process cluster instead (shoal infra on P+1..P+3, shoal node n1..n3
# with raft on P+11..P+13 and metrics on P+21..P+23, shoal coordinator on P).
# Prints one JSON object.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-7000}
terms=${2:-1500}
work=$(mktemp -d /tmp/shoal-bulk.XXXXXX)
port=${SHOAL_PORT:-17800}
addr=http://127.0.0.1:$port
go build -o "$work/shoal" ./cmd/shoal
go build -o "$work/shoalctl" ./cmd/shoalctl

# The file is kept in /tmp for the next run with the same size.
data=/tmp/shoal-bulk-$docs-$terms.jsonl
if [ ! -s "$data" ]; then
python3 - "$docs" "$terms" >"$data.tmp" <<'PY'
import random, sys
docs, terms = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(13)
for i in range(docs):
    idx = sorted(r.sample(range(30522), terms))
    vals = ",".join("%.4f" % r.uniform(0.01, 3) for _ in idx)
    sys.stdout.write('{"id":"doc-%06d","indices":[%s],"values":[%s]}\n' % (i, ",".join(map(str, idx)), vals))
PY
mv "$data.tmp" "$data"
fi
ln -s "$data" "$work/docs.jsonl"
bytes=$(stat -L -c %s "$work/docs.jsonl")

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
metrics=("$addr")
if [ "${SHOAL_MULTI:-}" = 1 ]; then
	# shoal infra (etcd + NATS), three shoal node processes, one coordinator.
	"$work/shoal" infra --data "$work/infra" --etcd 127.0.0.1:$((port + 1)) --etcd-peer 127.0.0.1:$((port + 2)) \
		--nats 127.0.0.1:$((port + 3)) 2>"$work/infra.log" &
	pids+=($!)
	for _ in $(seq 1 200); do
		grep -q "infra is up" "$work/infra.log" && break
		sleep 0.3
	done
	ext=(--etcd http://127.0.0.1:$((port + 1)) --nats nats://127.0.0.1:$((port + 3)))
	metrics=()
	for i in 1 2 3; do
		# shellcheck disable=SC2086
		"$work/shoal" node --id n$i --data "$work/n$i" --raft 127.0.0.1:$((port + 10 + i)) "${ext[@]}" \
			--metrics 127.0.0.1:$((port + 20 + i)) --log-level info ${SHOAL_DEV_FLAGS:-} 2>"$work/node-n$i.log" &
		pids+=($!)
		metrics+=("http://127.0.0.1:$((port + 20 + i))")
	done
	"$work/shoal" coordinator --http 127.0.0.1:$port "${ext[@]}" 2>"$work/coordinator.log" &
	pids+=($!)
else
	# shellcheck disable=SC2086
	"$work/shoal" dev --data "$work/data" --http 127.0.0.1:$port --log-level info ${SHOAL_DEV_FLAGS:-} 2>"$work/dev.log" &
	pids+=($!)
fi
logs() { cat "$work"/*.log; }
scrape() { for m in "${metrics[@]}"; do curl -s "$m/metrics"; done; }
for _ in $(seq 1 200); do
	curl -sf "$addr/v1/health" >/dev/null 2>&1 && break
	sleep 0.3
done
"$work/shoalctl" --addr "$addr" collection create bulk --shards 2 --replication 3 --sparse-max-term 30522 >&2
# Wait until both groups have a leader, then a little longer, so that their
# first elections are not counted.
for _ in $(seq 1 100); do
	leaders=$(scrape | awk '/^shoal_replication_is_leader\{/ {s += $2} END {printf "%d", s}')
	[ "$leaders" = 2 ] && break
	sleep 0.3
done
sleep 3
# terms_sum: the highest term of each group, summed over the groups; every
# election (won or not) raises its group's term by one.
terms_sum() {
	scrape | awk '/^shoal_replication_term\{/ {
		match($0, /group="[^"]*"/); g = substr($0, RSTART, RLENGTH); if ($2 > m[g]) m[g] = $2
	} END { for (g in m) s += m[g]; printf "%d", s }'
}
wins() { logs | grep -c 'leadership changed.*leader=true' || true; }
t0=$(terms_sum)
l0=$(logs | grep -c "node lease lost" || true)
w0=$(wins)
start=$(date +%s.%N)
"$work/shoalctl" --addr "$addr" -o json load "$work/docs.jsonl" --collection bulk --batch 10000 >"$work/load.json" 2>"$work/load.err" || true
end=$(date +%s.%N)
sleep 2
t1=$(terms_sum)
l1=$(logs | grep -c "node lease lost" || true)
w1=$(wins)
printf '{"multi_process":%s,"dev_flags":"%s","docs":%d,"terms":%d,"bytes":%d,"seconds":%.1f,"terms_before":%d,"elections":%d,"leaders_elected":%d,"leases_lost":%d,"load":%s,"load_stderr_lines":%d}\n' \
	"$([ "${SHOAL_MULTI:-}" = 1 ] && echo true || echo false)" "${SHOAL_DEV_FLAGS:-}" "$docs" "$terms" "$bytes" "$(echo "$end - $start" | bc)" "$t0" "$((t1 - t0))" "$((w1 - w0))" "$((l1 - l0))" "$(cat "$work/load.json" || echo null)" "$(wc -l <"$work/load.err")"
grep -v '^progress' "$work/load.err" | head -5 >&2 || true
# What raft said about elections and leases, for the record.
grep -E 'heartbeat timeout|entering candidate|leadership changed|lease lost|failed to contact quorum|stepping down' "$work"/*.log | tail -40 >&2 || true
