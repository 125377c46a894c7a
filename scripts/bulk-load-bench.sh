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
# SHOAL_PORT picks the HTTP port (default 17800); SHOAL_DEV_FLAGS adds flags to
# shoal dev (e.g. "--raft-heartbeat-timeout 3s"). Prints one JSON object.
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

# shellcheck disable=SC2086
"$work/shoal" dev --data "$work/data" --http 127.0.0.1:$port --log-level info ${SHOAL_DEV_FLAGS:-} 2>"$work/dev.log" &
dev=$!
trap 'kill $dev 2>/dev/null; wait $dev 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do
	curl -sf "$addr/v1/health" >/dev/null 2>&1 && break
	sleep 0.3
done
"$work/shoalctl" --addr "$addr" collection create bulk --shards 2 --replication 3 --sparse-max-term 30522 >&2
# Wait until both groups have a leader, then a little longer, so that their
# first elections are not counted.
for _ in $(seq 1 100); do
	leaders=$(curl -s "$addr/metrics" | awk '/^shoal_replication_is_leader\{/ {s += $2} END {printf "%d", s}')
	[ "$leaders" = 2 ] && break
	sleep 0.3
done
sleep 3
# terms_sum: the highest term of each group, summed over the groups; every
# election (won or not) raises its group's term by one.
terms_sum() {
	curl -s "$addr/metrics" | awk '/^shoal_replication_term\{/ {
		match($0, /group="[^"]*"/); g = substr($0, RSTART, RLENGTH); if ($2 > m[g]) m[g] = $2
	} END { for (g in m) s += m[g]; printf "%d", s }'
}
wins() { grep -c 'leadership changed.*leader=true' "$work/dev.log" || true; }
t0=$(terms_sum)
l0=$(grep -c "node lease lost" "$work/dev.log" || true)
w0=$(wins)
start=$(date +%s.%N)
"$work/shoalctl" --addr "$addr" -o json load "$work/docs.jsonl" --collection bulk --batch 10000 >"$work/load.json" 2>"$work/load.err" || true
end=$(date +%s.%N)
sleep 2
t1=$(terms_sum)
l1=$(grep -c "node lease lost" "$work/dev.log" || true)
w1=$(wins)
printf '{"dev_flags":"%s","docs":%d,"terms":%d,"bytes":%d,"seconds":%.1f,"elections":%d,"leaders_elected":%d,"leases_lost":%d,"load":%s,"load_stderr_lines":%d}\n' \
	"${SHOAL_DEV_FLAGS:-}" "$docs" "$terms" "$bytes" "$(echo "$end - $start" | bc)" "$((t1 - t0))" "$((w1 - w0))" "$((l1 - l0))" "$(cat "$work/load.json" || echo null)" "$(wc -l <"$work/load.err")"
grep -v '^progress' "$work/load.err" | head -5 >&2 || true
# What raft said about elections and leases, for the record.
grep -E 'heartbeat timeout|entering candidate|leadership changed|lease lost|failed to contact quorum|stepping down' "$work/dev.log" | tail -40 >&2 || true
