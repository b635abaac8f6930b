#!/bin/sh
# Prepares the broker before it starts (the one-shot rabbitmq_setup service in
# docker-compose.yml, run as root in the broker's own image, at every `up`):
#
# - TLS. On first start, a certificate authority: its key stays in the volume mounted at
#   /pki, which nothing else mounts. The broker's certificate (for rabbitmq, the cluster
#   profile's rabbitmq-2 and rabbitmq-3, localhost and 127.0.0.1), signed by it, is made
#   again when it is missing, is not signed by that CA, names fewer nodes or expires within
#   30 days. The CA certificate goes to /ca, which the services mount
#   to verify the broker.
# - definitions.json, which the broker loads at boot: docker/rabbitmq/definitions.template.json
#   (users, permissions, exchanges, queues, bindings) with each user's password hash, made
#   from the passwords in .env; the passwords themselves are written nowhere.
#
# /config is the broker's (mounted read-only at /etc/rabbitmq/setup): its key and the
# definitions are readable by the rabbitmq user only.
set -eu

template=/setup/definitions.template.json
pki=/pki
config=/config
public=/ca
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

: "${RABBITMQ_OPERATOR_PASSWORD:?RABBITMQ_OPERATOR_PASSWORD is not set}"
: "${ORDER_AMQP_PASSWORD:?ORDER_AMQP_PASSWORD is not set}"
: "${INVENTORY_AMQP_PASSWORD:?INVENTORY_AMQP_PASSWORD is not set}"
: "${NOTIFICATION_AMQP_PASSWORD:?NOTIFICATION_AMQP_PASSWORD is not set}"
: "${AUDIT_AMQP_PASSWORD:?AUDIT_AMQP_PASSWORD is not set}"

if [ ! -s "$pki/ca.key" ] || [ ! -s "$pki/ca.pem" ]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -days 3650 -subj "/CN=rabbit-orders compose CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  mv "$work/ca.key" "$work/ca.pem" "$pki/"
  echo "made a certificate authority: $(openssl x509 -in "$pki/ca.pem" -noout -subject)"
fi

# The nodes' names: rabbitmq alone, or with rabbitmq-2 and rabbitmq-3 in the cluster profile
# (docker/compose.cluster.yml). One certificate for all of them.
names="DNS:rabbitmq, DNS:rabbitmq-2, DNS:rabbitmq-3, DNS:localhost, IP:127.0.0.1"
if ! openssl verify -CAfile "$pki/ca.pem" "$config/broker.pem" >/dev/null 2>&1 \
  || ! openssl x509 -in "$config/broker.pem" -noout -checkend 2592000 >/dev/null 2>&1 \
  || ! openssl x509 -in "$config/broker.pem" -noout -ext subjectAltName 2>/dev/null \
    | grep -q "DNS:rabbitmq-3"; then
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=rabbitmq" \
    -keyout "$work/broker.key" -out "$work/broker.csr" 2>/dev/null
  cat > "$work/extensions" <<EXTENSIONS
subjectAltName = $names
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXTENSIONS
  openssl x509 -req -sha256 -days 397 -in "$work/broker.csr" -CA "$pki/ca.pem" \
    -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$work/extensions" -out "$work/broker.pem" 2>/dev/null
  mv "$work/broker.key" "$work/broker.pem" "$config/"
  echo "made the broker's certificate: $(openssl x509 -in "$config/broker.pem" -noout -enddate)"
fi
cp "$pki/ca.pem" "$config/ca.pem"
cp "$pki/ca.pem" "$public/ca.pem"

# RabbitMQ's rabbit_password_hashing_sha256: base64(salt + SHA-256(salt + password)), with a
# 4-byte random salt.
password_hash() {
  openssl rand 4 > "$work/salt"
  printf '%s' "$1" > "$work/password"
  cat "$work/salt" "$work/password" | openssl dgst -sha256 -binary > "$work/digest"
  cat "$work/salt" "$work/digest" | openssl base64 -A
  rm -f "$work/password"
}
sed -e "s|@OPERATOR_PASSWORD_HASH@|$(password_hash "$RABBITMQ_OPERATOR_PASSWORD")|" \
    -e "s|@ORDER_PASSWORD_HASH@|$(password_hash "$ORDER_AMQP_PASSWORD")|" \
    -e "s|@INVENTORY_PASSWORD_HASH@|$(password_hash "$INVENTORY_AMQP_PASSWORD")|" \
    -e "s|@NOTIFICATION_PASSWORD_HASH@|$(password_hash "$NOTIFICATION_AMQP_PASSWORD")|" \
    -e "s|@AUDIT_PASSWORD_HASH@|$(password_hash "$AUDIT_AMQP_PASSWORD")|" \
    "$template" > "$work/definitions.json"
if grep -q '@[A-Z_]*@' "$work/definitions.json"; then
  echo "definitions: a placeholder is left: $(grep -o '@[A-Z_]*@' "$work/definitions.json")" >&2
  exit 1
fi
mv "$work/definitions.json" "$config/definitions.json"

chown rabbitmq:rabbitmq "$config/broker.key" "$config/definitions.json"
chmod 600 "$config/broker.key" "$config/definitions.json"
chmod 644 "$config/broker.pem" "$config/ca.pem" "$public/ca.pem"
echo "broker set up: definitions for $(grep -c '"password_hash"' "$config/definitions.json") users"
