#!/usr/bin/env bash
# One Elasticsearch node on loopback, from its jars on Maven Central (the version of
# docker-compose.yml's image).
#   deploy/elasticsearch.sh start DIR  -> starts a node with its data in DIR, waits until every primary shard is placed (yellow), prints its URL
#   deploy/elasticsearch.sh stop DIR   -> stops it (DIR keeps the data; a later start reuses data and port)
# The jars are fetched once into deploy/elasticsearch/.libs (needs java >= 17, javac and mvn); the
# launcher and the root plugin (deploy/elasticsearch/src) are compiled there when their sources change.
# ES_HEAP (default 512m) sets the node's heap.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
cmd=${1:?usage: elasticsearch.sh start|stop DIR}
dir=${2:?usage: elasticsearch.sh start|stop DIR}
base="$here/elasticsearch"
libs="$base/.libs"
version=$(sed -n 's:.*<elasticsearch.version>\(.*\)</elasticsearch.version>.*:\1:p' "$base/pom.xml")


healthy() {
  python3 - "$1" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3) as r:
        sys.exit(0 if json.load(r).get("status") in ("green", "yellow") else 1)
except Exception:
    sys.exit(1)
PY
}

fetch() {
  if [ ! -f "$libs/.complete-$version" ]; then
    echo "fetching Elasticsearch $version jars from Maven Central ..." >&2
    rm -rf "$libs/server" "$libs/netty"
    mvn -q -B -f "$base/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs/server" \
      -DexcludeGroupIds=io.netty -DexcludeArtifactIds=transport-netty4 >&2
    mvn -q -B -f "$base/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs/netty" \
      -DincludeGroupIds=io.netty,org.elasticsearch.plugin >&2
    find "$libs/netty" -name '*.jar' ! -name 'netty-*' ! -name 'transport-netty4-*' -delete
    touch "$libs/.complete-$version"
  fi
  local stamp
  stamp=$( (echo "$version"; cat "$base"/src/approvalmonitor/es/*.java) | sha256sum | cut -c1-16)
  if [ ! -f "$libs/build/.built-$stamp" ]; then
    echo "compiling the node launcher and root plugin ..." >&2
    rm -rf "$libs/build"
    mkdir -p "$libs/build/classes"
    javac -nowarn -d "$libs/build/classes" -cp "$libs/server/*" "$base"/src/approvalmonitor/es/*.java >&2
    (cd "$libs/build/classes" && jar cf ../launcher.jar approvalmonitor/es/SingleNode*.class \
      && jar cf ../root-plugin.jar approvalmonitor/es/RootPlugin*.class)
    touch "$libs/build/.built-$stamp"
  fi
}

module_dir() { # NAME CLASSNAME JARS...
  local name=$1 classname=$2 dest="$dir/home/modules/$1"
  shift 2
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$@" "$dest/"
  cat > "$dest/plugin-descriptor.properties" <<PROPS
name=$name
description=$name for approval-monitor's test node
version=$version
elasticsearch.version=$version
java.version=17
classname=$classname
PROPS
}

case "$cmd" in
start)
  fetch
  mkdir -p "$dir/home" "$dir/data"
  if [ -f "$dir/ports" ]; then read -r port tport < "$dir/ports"; else
    read -r port tport < <(free_ports)
    echo "$port $tport" > "$dir/ports"
  fi
  module_dir transport-netty4 org.elasticsearch.transport.netty4.Netty4Plugin "$libs"/netty/*.jar
  module_dir approval-monitor-root approvalmonitor.es.RootPlugin "$libs/build/root-plugin.jar"
  url="http://127.0.0.1:$port"
  nohup java -Xms"${ES_HEAP:-512m}" -Xmx"${ES_HEAP:-512m}" -XX:+UseG1GC -Xss1m \
    -Djava.io.tmpdir="$dir/home" -Dlog4j2.formatMsgNoLookups=true -Dio.netty.allocator.type=pooled \
    -Dio.netty.noUnsafe=true -Dio.netty.recycler.maxCapacityPerThread=0 -Des.networkaddress.cache.ttl=60 \
    --module-path "$libs/server" --add-modules=ALL-MODULE-PATH -cp "$libs/build/launcher.jar" \
    approvalmonitor.es.SingleNode "$dir/home" "$dir/data" "$port" "$tport" >>"$dir/elasticsearch.log" 2>&1 &
  echo $! > "$dir/elasticsearch.pid"
  deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if healthy "$url"; then
      echo "$url"
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/elasticsearch.pid")" 2>/dev/null; then
      echo "Elasticsearch exited at start; see $dir/elasticsearch.log" >&2
      tail -30 "$dir/elasticsearch.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "Elasticsearch placed no shards within 120 s (health never yellow); see $dir/elasticsearch.log" >&2
  exit 1
  ;;
stop)
  stop_pidfile "$dir/elasticsearch.pid"
  ;;
*)
  echo "usage: elasticsearch.sh start|stop DIR" >&2
  exit 2
  ;;
esac
