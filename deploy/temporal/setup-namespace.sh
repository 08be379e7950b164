#!/bin/sh
# One-shot (compose service temporal-namespace, image temporalio/admin-tools): once the Temporal
# server answers, creates the namespace pyxis uses and registers the workflows' custom search
# attributes, then waits until the server lists them. The worker registers the same attributes
# at start (worker.EnsureSearchAttributes); doing it here as well means the api, which sets them
# when it starts a workflow, never races the worker (temporalio/temporal#6475).
#
# deploy/scripts_test.go checks that the search_attribute lines below match the keys declared in
# workflows/ (name and type). The temporal CLI reads TEMPORAL_ADDRESS from the environment.
set -eu

: "${TEMPORAL_ADDRESS:?}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"

# retry DESCRIPTION COMMAND...: runs COMMAND until it succeeds, for up to two minutes.
retry() {
	what="$1"
	shift
	tries=0
	until "$@" >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ "$tries" -ge 60 ]; then
			echo "gave up waiting: $what" >&2
			"$@" # once more, with its error shown
			exit 1
		fi
		sleep 2
	done
	echo "ok: $what"
}

retry "Temporal at $TEMPORAL_ADDRESS is serving" temporal operator cluster health

if ! temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
	echo "creating namespace $NAMESPACE (retention $RETENTION)"
	temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
		--description "pyxis medication requests"
fi
retry "namespace $NAMESPACE is visible" temporal operator namespace describe --namespace "$NAMESPACE"

# search_attribute NAME TYPE: registers one custom search attribute (a no-op when it exists
# with that type; an error when it exists with another).
search_attribute() {
	retry "search attribute $1 ($2) registered" \
		temporal operator search-attribute create --namespace "$NAMESPACE" --name "$1" --type "$2"
	retry "search attribute $1 listed" sh -c \
		"temporal operator search-attribute list --namespace '$NAMESPACE' | grep -qw '$1'"
}

search_attribute RequestStatus Keyword
search_attribute CabinetCode Keyword
search_attribute Priority Keyword
search_attribute RequestedBy Keyword

echo "namespace $NAMESPACE is ready"
