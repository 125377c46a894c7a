#!/usr/bin/env bash
# The Docker suite: builds the FROM-scratch image, runs `shoal dev` in a
# container on a private (--internal) network of its own, drives it with
# shoalctl from a second container, SIGKILLs and restarts it on the same
# volume and checks that every acknowledged document is still served.
# Everything it creates is removed on exit. .ci/run runs it after the Go
# tests; it skips, saying so, where no Docker daemon answers.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
	echo "docker suite: SKIPPED (no Docker daemon answers here)"
	exit 0
fi
id="shoal-suite-$$"
tag="$id:latest"
net="$id" vol="$id" dev="$id-dev"
cleanup() {
	docker rm -f "$dev" >/dev/null 2>&1 || true
	docker network rm "$net" >/dev/null 2>&1 || true
	docker volume rm "$vol" >/dev/null 2>&1 || true
	docker rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== docker suite: building $tag"
scripts/docker-build.sh "$tag" >/dev/null
docker network create --internal "$net" >/dev/null
docker volume create "$vol" >/dev/null

ctl() { docker run --rm --network "$net" --entrypoint /shoalctl "$tag" --addr "http://$dev:7700" "$@"; }
start() {
	docker run -d --name "$dev" --network "$net" -v "$vol:/data" "$tag" >/dev/null
	for i in $(seq 1 60); do
		if ctl status >/dev/null 2>&1; then
			return 0
		fi
		sleep 1
	done
	docker logs "$dev" | tail -20
	echo "docker suite: FAIL: shoal dev not healthy after 60 s"
	exit 1
}
expect() { # expect WHAT WANT GOT
	if [ "$2" != "$3" ]; then
		echo "docker suite: FAIL: $1"
		echo "want:"; echo "$2"
		echo "got:"; echo "$3"
		exit 1
	fi
}

start
echo "== docker suite: quickstart"
ctl collection create quickstart --shards 2 --replication 3 --sparse-max-term 30522 --dense-dim 8 \
	--dense-metric cosine --attr topic=keyword --attr year=int >/dev/null
ctl load /examples/quickstart.jsonl --collection quickstart >/dev/null
want="astro-comet astro-year astro-jupiter astro-mars astro-saturn"
hits() { # the ids of the quickstart query's hits, in rank order
	ctl search --collection quickstart --query /examples/quickstart-query.json |
		awk 'NR > 1 && NF >= 3 { printf "%s%s", sep, $2; sep = " " }'
}
expect "quickstart search" "$want" "$(hits)"

echo "== docker suite: SIGKILL and restart on the same volume"
docker kill -s KILL "$dev" >/dev/null
docker rm "$dev" >/dev/null
start
got=""
for i in $(seq 1 30); do # replicas may still be electing leaders
	got=$(hits 2>/dev/null || true)
	[ "$got" = "$want" ] && break
	sleep 1
done
expect "search after restart" "$want" "$got"
echo "docker suite: ok"
