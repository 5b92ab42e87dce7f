#!/usr/bin/env bash
# Apache Kafka itself, one KRaft node on loopback, from its jars on Maven Central.
#   deploy/kafka.sh start DIR   -> starts a broker with its data in DIR, prints host:port
#   deploy/kafka.sh stop DIR    -> stops it
# The jars are fetched once into deploy/kafka/.libs (needs java >= 17 and mvn).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
cmd=${1:?usage: kafka.sh start|stop DIR}
dir=${2:?usage: kafka.sh start|stop DIR}
libs="$here/kafka/.libs"

case "$cmd" in
start)
  if [ ! -f "$libs/.complete" ]; then
    echo "fetching Apache Kafka jars from Maven Central ..." >&2
    mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs" >&2
    touch "$libs/.complete"
  fi
  mkdir -p "$dir"
  read -r port cport < <(free_ports)
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  java_opts=(-Xms256m -Xmx768m -Dlog4j.configuration="file:$here/kafka/log4j.properties" -cp "$libs/*")
  # A random cluster id in Kafka's form; one starting with "-" would read as an option.
  cluster=$(python3 -c 'import uuid,base64
while (c := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))[0] == "-": pass
print(c)')
  if ! java "${java_opts[@]}" kafka.tools.StorageTool format --cluster-id="$cluster" -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
    echo "formatting Kafka's storage failed; see $dir/format.log:" >&2
    tail -5 "$dir/format.log" >&2
    exit 1
  fi
  nohup java "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null; then
      echo "127.0.0.1:$port"
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
      echo "Kafka exited at start; see $dir/kafka.log" >&2
      tail -20 "$dir/kafka.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "Kafka did not start within 60 s; see $dir/kafka.log" >&2
  exit 1
  ;;
stop)
  stop_pidfile "$dir/kafka.pid"
  ;;
*)
  echo "usage: kafka.sh start|stop DIR" >&2
  exit 2
  ;;
esac
