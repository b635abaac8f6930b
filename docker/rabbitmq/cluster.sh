#!/bin/sh
# The cluster profile's one-shot step (docker/compose.cluster.yml), once the three nodes are
# healthy and before any service starts: every quorum queue and the stream get a replica on
# each node, then it checks that they have.
#
# Why: node rabbitmq starts first and declares the topology from its definitions while it is
# alone, so each queue starts with one member (RabbitMQ 3.10 adds no members by itself when
# nodes join; x-quorum-initial-group-size counts only the nodes there at declaration).
# `rabbitmq-queues grow` adds the member a node lacks, to every quorum queue; a queue that
# already has one there is left alone, so this is safe to run at every `up`.
set -eu

: "${RABBITMQ_ERLANG_COOKIE:?RABBITMQ_ERLANG_COOKIE is not set}"
for home in /var/lib/rabbitmq "$HOME"; do
  printf '%s' "$RABBITMQ_ERLANG_COOKIE" > "$home/.erlang.cookie"
  chmod 400 "$home/.erlang.cookie"
done
chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie 2>/dev/null || true

seed=rabbit@rabbitmq
# Not on the PATH of every image (Debian's package keeps it with the other tools).
streams=$(command -v rabbitmq-streams || echo /usr/lib/rabbitmq/bin/rabbitmq-streams)
nodes="rabbit@rabbitmq rabbit@rabbitmq-2 rabbit@rabbitmq-3"
stream=audit.events

rabbitmqctl -q -n "$seed" await_online_nodes 3 --timeout 120
for node in $nodes; do
  rabbitmq-queues -q -n "$seed" grow "$node" all >/dev/null
done
for node in $nodes; do
  # Each member's name on a line of its own, matched whole: rabbit@rabbitmq is a prefix of
  # the other two.
  if ! rabbitmqctl -q -n "$seed" list_queues name members --no-table-headers \
      | grep "^$stream[[:space:]]" | tr -c 'a-z0-9@.-' '\n' | grep -qx "$node"; then
    "$streams" -q -n "$seed" add_replica "$stream" "$node"
  fi
done

# Every quorum queue and the stream on all three nodes, or this step fails (and nothing
# starts): the profile promises that losing any one node loses nothing. A replica just
# added may take a moment to be listed.
attempt=0
while :; do
  short=$(rabbitmqctl -q -n "$seed" list_queues name type members --no-table-headers \
    | awk '$2 == "quorum" || $2 == "stream" { n = gsub(/rabbit@/, "&"); if (n < 3) print $1 " (" n ")" }')
  [ -z "$short" ] && break
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "queues with fewer than 3 replicas: $short" >&2
    exit 1
  fi
  sleep 1
done
echo "cluster: $(rabbitmqctl -q -n "$seed" list_queues name --no-table-headers | wc -l) queues, each quorum queue and stream on the three nodes"
