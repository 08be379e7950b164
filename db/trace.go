package db

import (
	"strings"

	"github.com/exaring/otelpgx"
)

// newTracer traces every query of the pool with OpenTelemetry (the global TracerProvider), as
// a child of the span of the context it runs in: an API request, an activity. A span is named
// "query " and the sqlc query's name ("query GetCabinet") or else the statement's first word,
// and carries the
// statement with its $n placeholders, never the arguments: those hold patient data.
func newTracer() *otelpgx.Tracer {
	return otelpgx.NewTracer(otelpgx.WithTrimSQLInSpanName(), otelpgx.WithSpanNameFunc(spanName))
}

// spanName names a statement's span: the name sqlc puts in its first line
// ("-- name: GetCabinet :one"), else its first word (BEGIN, SELECT, ...).
func spanName(stmt string) string {
	if rest, ok := strings.CutPrefix(stmt, "-- name: "); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			return name
		}
	}
	word, _, _ := strings.Cut(strings.TrimSpace(stmt), " ")
	if len(word) > 32 {
		word = word[:32]
	}
	return strings.ToUpper(word)
}
