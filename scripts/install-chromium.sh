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
$SUDO apt-get update
$SUDO apt-get install -y chromium
command -v chromium
