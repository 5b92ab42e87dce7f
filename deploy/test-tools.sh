#!/usr/bin/env bash
# The Debian packages the tests use beyond Python: Chromium and a font with Chinese glyphs for the
# browser test (Playwright drives Debian's Chromium; no browser download from elsewhere),
# docker-compose 1.29 to parse the compose file without an engine, and a JDK (java >= 17, javac)
# with Maven for the Kafka broker and the Elasticsearch node started from their jars.
# Prints Chromium's path.  Installs with apt as root, or through passwordless sudo.
set -euo pipefail
bin=${CHROMIUM:-/usr/bin/chromium}
missing=()
[ -x "$bin" ] || missing+=(chromium)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian for the tests ..." >&2
  if [ "$(id -u)" = 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else
    echo "test tools are missing and this user cannot install them: as root, run" \
      "'apt-get install ${missing[*]}'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq >&2
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
echo "$bin"
