#!/usr/bin/env bash
# dev-load-bench.sh: the segments issue's measurement through the user's own
# tools. It writes N synthetic SPLADE-like documents as JSONL, starts
# `shoal dev`, creates a collection (2 shards, rf 3), loads the file with
# `shoalctl load`, and searches it with `shoalbench cluster --addr`, which
# prints recall against exact and p50 against one Seismic index over the same
# documents, timed query by query beside the cluster's.
#
#   scripts/dev-load-bench.sh [DOCS] [QUERY_CUT]      (defaults 1000000, 20)
#
# Everything listens on 127.0.0.1; the data directory is a fresh temp dir.
# SHOAL_PORT picks the HTTP port (default 17700); SHOAL_PPROF=127.0.0.1:6060
# serves pprof from shoal dev and saves a heap profile at the end (HEAP_OUT).
# shoal dev holds every replica in one process (1M documents with rf 3 is
# about 8 GB live): it runs with GOGC=50 and GOMEMLIMIT=14GiB unless
# SHOAL_GOGC / SHOAL_MEMLIMIT say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-1000000}
qc=${2:-20}
work=$(mktemp -d /tmp/shoal-devload.XXXXXX)
port=${SHOAL_PORT:-17700}
addr=http://127.0.0.1:$port
go build -o "$work/shoal" ./cmd/shoal
go build -o "$work/shoalctl" ./cmd/shoalctl
go build -o "$work/shoalbench" ./cmd/shoalbench

echo "== writing $docs documents" >&2
"$work/shoalbench" cluster --docs "$docs" --write-jsonl "$work/docs.jsonl"

GOGC=${SHOAL_GOGC:-50} GOMEMLIMIT=${SHOAL_MEMLIMIT:-14GiB} "$work/shoal" dev --data "$work/data" --http 127.0.0.1:$port --log-level warn ${SHOAL_PPROF:+--pprof "$SHOAL_PPROF"} 2>"$work/dev.log" &
dev=$!
trap 'kill $dev 2>/dev/null; wait $dev 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
	"$work/shoalctl" --addr "$addr" status >/dev/null 2>&1 && break
	sleep 0.3
done
"$work/shoalctl" --addr "$addr" collection create synth --shards 2 --replication 3 --sparse-max-term 30522 >&2
echo "== shoalctl load" >&2
"$work/shoalctl" --addr "$addr" -o json load "$work/docs.jsonl" --collection synth
echo "== shoalbench cluster --addr" >&2
"$work/shoalbench" cluster --docs "$docs" --nq 200 --query-cut "$qc" --addr "$addr" --collection synth
"$work/shoalctl" --addr "$addr" collection describe synth >&2
if [ -n "${SHOAL_PPROF:-}" ]; then
	curl -s "http://$SHOAL_PPROF/debug/pprof/heap" -o "${HEAP_OUT:-/tmp/shoal-dev-heap.pb.gz}" || true
	ps -o rss= -p $dev | awk '{printf "shoal dev RSS %.0f MB\n", $1/1024}' >&2
fi
