#!/usr/bin/env bash
# Installs Debian's chromium package, which the web console's browser test
# (coordinator/ui_browser_test.go) drives headless. It does nothing when a
# chromium binary is already on PATH. Run as root, or with sudo available.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	echo "chromium: $(command -v chromium) is installed"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-chromium: not root and no sudo; install the chromium package by hand" >&2
		exit 1
	fi
	SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# A mirror that fails once should not fail the run: try three times.
for try in 1 2 3; do
	if $SUDO apt-get update && $SUDO apt-get install -y chromium; then
		break
	fi
	if [ "$try" -eq 3 ]; then
		echo "install-chromium: apt-get failed three times" >&2
		exit 1
	fi
	sleep 10
done
echo "chromium: $(command -v chromium) installed"
