#!/usr/bin/env bash
# Render a KPI report (HTML written by `sfsync kpi --html`) in headless Chromium and save a PNG.
# Installs Debian's chromium when it is missing (needs root / apt).
#
#   scripts/screenshot_kpi_report.sh out/kpi-2025-03.html out/kpi-2025-03.png [WIDTHxHEIGHT]
set -euo pipefail

html="${1:-out/kpi-report.html}"
png="${2:-${html%.html}.png}"
size="${3:-1280,1800}"
size="${size/x/,}"

if [ ! -f "$html" ]; then
  echo "error: $html not found (write one with: sfsync kpi --month YYYY-MM --html $html)" >&2
  exit 2
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium…" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# Japanese text and emoji need fonts; a headless server often has none.
if ! fc-list :lang=ja 2>/dev/null | grep -q . ; then
  echo "installing Japanese and emoji fonts…" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fonts-ipafont-gothic \
    fonts-noto-color-emoji >/dev/null || echo "warning: fonts not installed" >&2
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$png")"
abs_html="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
abs_png="$(cd "$(dirname "$png")" && pwd)/$(basename "$png")"

# Flags known to work on this machine kind (/work/.library/env/machines/python-svc.md): without
# the background-networking flags Chromium keeps trying to reach Google's hosts.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="$size" \
  --screenshot="$abs_png" "file://$abs_html" 2>/dev/null

echo "screenshot written to $png"
