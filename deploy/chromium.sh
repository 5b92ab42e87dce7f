#!/usr/bin/env bash
# Makes sure Debian's Chromium, and a font with Chinese glyphs for the page's labels, are installed for
# the browser tests (Playwright drives it; no browser download from elsewhere).  Prints its path.
# Installs with apt as root, or through passwordless sudo.
set -euo pipefail
bin=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$bin" ] || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests ..." >&2
  if [ "$(id -u)" = 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else
    echo "chromium is missing and this user cannot install it: run 'apt-get install chromium' as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq >&2
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >&2
fi
echo "$bin"
