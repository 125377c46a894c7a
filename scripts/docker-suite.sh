#!/usr/bin/env bash
# The Docker suite: builds the FROM-scratch image, runs `shoal dev` in a
# container on a private (--internal) network of its own, drives it with
# shoalctl from a second container, SIGKILLs and restarts it on the same
# volume and checks that every acknowledged document is still served. Then
# a cluster of containers on another private network (shoal infra, three
# shoal nodes, a coordinator): the quickstart again; one node partitioned
# away while a hit is deleted through the majority; healed; another node
# SIGKILLed: the two left (one of them the healed node) serve the delete.
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
cnet="$id-c" cluster=("$id-infra" "$id-n1" "$id-n2" "$id-n3" "$id-coord")
cleanup() {
	docker rm -f "$dev" "${cluster[@]}" >/dev/null 2>&1 || true
	docker network rm "$net" "$cnet" >/dev/null 2>&1 || true
	docker volume rm "$vol" >/dev/null 2>&1 || true
	docker rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== docker suite: building $tag"
scripts/docker-build.sh "$tag" >/dev/null
docker network create --internal "$net" >/dev/null
docker volume create "$vol" >/dev/null

on=$net addr="http://$dev:7700" # where ctl runs and what it talks to
ctl() { docker run --rm --network "$on" --entrypoint /shoalctl "$tag" --addr "$addr" "$@"; }
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
# await WHAT WANT GETTER: GETTER prints WANT within 30 s (leaders may still
# be elected after a kill or a partition).
await() {
	local got=""
	for i in $(seq 1 30); do
		got=$("$3" 2>/dev/null || true)
		[ "$got" = "$2" ] && break
		sleep 1
	done
	expect "$1" "$2" "$got"
}

echo "== docker suite: SIGKILL and restart on the same volume"
docker kill -s KILL "$dev" >/dev/null
docker rm "$dev" >/dev/null
start
await "search after restart" "$want" hits

echo "== docker suite: a cluster of containers"
docker network create --internal "$cnet" >/dev/null
on=$cnet addr="http://$id-coord:7700"
ext=(--etcd "http://$id-infra:2379" --nats "nats://$id-infra:4222")
docker run -d --name "$id-infra" --network "$cnet" "$tag" infra --data /data \
	--etcd 0.0.0.0:2379 --etcd-advertise "$id-infra:2379" --nats 0.0.0.0:4222 >/dev/null
for n in n1 n2 n3; do
	docker run -d --name "$id-$n" --network "$cnet" --restart on-failure "$tag" node --id "$n" \
		--raft "$id-$n:7710" --data /data "${ext[@]}" >/dev/null
done
docker run -d --name "$id-coord" --network "$cnet" --restart on-failure "$tag" coordinator \
	--http 0.0.0.0:7700 "${ext[@]}" >/dev/null
alive=0
for i in $(seq 1 60); do
	alive=$(ctl status 2>/dev/null | awk '$3 == "true"' | wc -l)
	[ "$alive" -eq 3 ] && break
	sleep 1
done
if [ "$alive" -ne 3 ]; then
	for c in "${cluster[@]}"; do echo "-- $c"; docker logs "$c" 2>&1 | tail -5; done
	echo "docker suite: FAIL: $alive of 3 nodes alive after 60 s"
	exit 1
fi
ctl collection create quickstart --shards 2 --replication 3 --sparse-max-term 30522 --dense-dim 8 \
	--dense-metric cosine --attr topic=keyword --attr year=int >/dev/null
ctl load /examples/quickstart.jsonl --collection quickstart >/dev/null
expect "cluster search" "$want" "$(hits)"

# Partition n1 away, delete a hit through the majority, heal, then kill n2:
# n1 and n3 must serve the delete (n1 caught up, or reads forwarded).
docker network disconnect "$cnet" "$id-n1"
deleted=""
for i in $(seq 1 30); do # shards n1 led elect new leaders first
	if ctl delete astro-saturn --collection quickstart >/dev/null 2>&1; then
		deleted=yes
		break
	fi
	sleep 1
done
[ -n "$deleted" ] || { echo "docker suite: FAIL: delete with n1 partitioned"; exit 1; }
top4() { # the first four hits, or nothing while the deleted one is served
	local h
	h=$(hits)
	case " $h " in *" astro-saturn "*) return 0;; esac
	echo "$h" | cut -d' ' -f1-4
}
await "cluster search with n1 partitioned (astro-saturn deleted)" "astro-comet astro-year astro-jupiter astro-mars" top4
docker network connect "$cnet" "$id-n1"
want3=$(hits)
case " $want3 " in *" astro-saturn "*) echo "docker suite: FAIL: deleted astro-saturn served after healing"; exit 1;; esac
docker kill -s KILL "$id-n2" >/dev/null
await "cluster search after healing n1 and killing n2" "$want3" hits
echo "docker suite: ok"
