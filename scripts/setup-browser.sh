#!/usr/bin/env bash
# Installs a headless Chromium for the run report's browser test (crates/genret-report/tests/
# browser.rs), from Debian packages. Idempotent: does nothing when a Chromium is already on
# PATH. Exits 0 with a clear message when it cannot install (no root, no apt), so a CI step
# that calls it does not fail for that reason; the browser test then says it was skipped.
set -uo pipefail

for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        echo "setup-browser: $candidate already installed ($(command -v "$candidate"))"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-browser: cannot install Chromium: apt-get not found (install chromium by hand; the browser test is skipped until then)" >&2
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "setup-browser: cannot install Chromium: not root and no password-less sudo (the browser test is skipped until it is installed)" >&2
        exit 0
    fi
fi

echo "setup-browser: installing chromium from Debian packages"
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }; then
    echo "setup-browser: cannot install Chromium: apt-get failed (see above; the browser test is skipped until it is installed)" >&2
    exit 0
fi
echo "setup-browser: installed $(chromium --version 2>/dev/null || echo chromium)"
