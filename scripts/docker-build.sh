#!/usr/bin/env bash
# Builds the shoal image (FROM scratch around static binaries).
# Usage: scripts/docker-build.sh [TAG]   (default shoal:dev)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-shoal:dev}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$ctx/shoal" ./cmd/shoal
CGO_ENABLED=0 go build -trimpath -o "$ctx/shoalctl" ./cmd/shoalctl
mkdir -p "$ctx/examples"
cp examples/quickstart.jsonl examples/quickstart-query.json "$ctx/examples/"
if ! out=$(docker build -q -t "$tag" -f deploy/docker/Dockerfile "$ctx" 2>&1); then
	echo "$out" >&2
	exit 1
fi
echo "$tag"
