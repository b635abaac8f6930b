#!/bin/sh
# promtool on this folder: Prometheus's configuration (with the rule files it names), the
# alert rules, and their unit tests (alerts.test.yml). Runs wherever promtool is: in the
# Prometheus image the stack uses (no local install needed), from the repository's root,
#   docker run --rm --entrypoint sh -v "$PWD/docker/prometheus:/etc/prometheus:ro" \
#     prom/prometheus:v3.5.0 /etc/prometheus/check.sh
# or, with promtool installed (Debian: apt-get install prometheus), docker/prometheus/check.sh
set -eu
cd "$(dirname "$0")"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts.test.yml
