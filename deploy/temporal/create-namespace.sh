#!/bin/sh
# Create Nurture's Temporal namespace and register the search attributes every run carries.
#
# Runs in temporalio/admin-tools (Alpine: POSIX sh, no bash) once Temporal is up. Safe to
# re-run: an existing namespace is kept, and an attribute that is already registered counts
# as done.
#
# SEARCH_ATTRIBUTES must match nurture/temporal/search_attributes.py (ALL);
# tests/test_docker_compose.py fails when they drift apart.
set -eu

SEARCH_ATTRIBUTES="NurtureKind AutomationId CampaignId ContactId CurrentStep"

NAMESPACE="${DEFAULT_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
host="${TEMPORAL_ADDRESS%:*}"
port="${TEMPORAL_ADDRESS##*:}"
# Dial the IPv4 address: the server binds 0.0.0.0 only, and the host name may resolve to
# an IPv6 address first on some Docker networks.
ip="$(getent ahosts "$host" 2>/dev/null | awk '/STREAM/ { print $1; exit }')" || ip=""
ADDRESS="${ip:-$host}:$port"
export TEMPORAL_ADDRESS="$ADDRESS"

echo "Waiting for Temporal at $ADDRESS..."
attempt=0
until temporal operator cluster health >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "Temporal was not healthy after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "Namespace '$NAMESPACE' already exists."
else
  echo "Creating namespace '$NAMESPACE' (retention $RETENTION)..."
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
fi

registered() {
  temporal operator search-attribute list --namespace "$NAMESPACE" 2>/dev/null | grep -qw "$1"
}

for name in $SEARCH_ATTRIBUTES; do
  # A namespace created a moment ago takes a few seconds to reach every frontend: retry.
  attempt=0
  until registered "$name" \
    || temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type Keyword \
    || registered "$name"; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 15 ]; then
      echo "Could not register search attribute $name" >&2
      exit 1
    fi
    sleep 2
  done
  echo "Search attribute $name (Keyword) is registered."
done

echo "Namespace '$NAMESPACE' is ready for Nurture."
