#!/usr/bin/env bash
# Starts the local RabbitMQ and Redis when they are not answering, and waits until both do.
# Used by CI and by developers on a machine with the Debian packages installed.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 6379; then
  echo "ensure-services: starting redis-server"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
if ! port_open 5672; then
  echo "ensure-services: starting rabbitmq-server"
  rabbitmq-server -detached
fi

for _ in $(seq 1 120); do
  if port_open 6379 && port_open 5672; then
    # The AMQP port opens a moment before the node accepts logins; wait for the app too.
    if command -v rabbitmqctl >/dev/null && ! rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1; then
      sleep 1
      continue
    fi
    echo "ensure-services: RabbitMQ and Redis are up"
    exit 0
  fi
  sleep 1
done
echo "ensure-services: RabbitMQ (127.0.0.1:5672) or Redis (127.0.0.1:6379) did not come up" >&2
exit 1
