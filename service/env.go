package service

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Env is the environment as the process's components read it: each name read is recorded, so
// that a PYXIS_ variable nobody read (PYXIS_HTTP_ADR, a typo that would otherwise be ignored
// without a word) can be named at start. No list of settings is kept by hand: a setting is
// known because something asked for it.
type Env struct {
	getenv func(string) string
	mu     sync.Mutex
	read   map[string]bool
}

// NewEnv records the reads of getenv.
func NewEnv(getenv func(string) string) *Env {
	return &Env{getenv: getenv, read: map[string]bool{}}
}

// Getenv returns the variable's value and records that it was read.
func (e *Env) Getenv(name string) string {
	e.mu.Lock()
	e.read[name] = true
	e.mu.Unlock()
	return e.getenv(name)
}

// settingPrefix marks the variables that are the system's settings.
const settingPrefix = "PYXIS_"

// testPrefix marks the variables that only `go test` reads (PYXIS_TEST_DATABASE_URL): a
// developer may well have them exported.
const testPrefix = "PYXIS_TEST_"

// Unread returns the names of environ (KEY=VALUE entries, as os.Environ gives them) that
// start with PYXIS_ and were not read, sorted.
func (e *Env) Unread(environ []string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var unread []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, settingPrefix) && !strings.HasPrefix(name, testPrefix) && !e.read[name] && !slices.Contains(unread, name) {
			unread = append(unread, name)
		}
	}
	slices.Sort(unread)
	return unread
}

// WarnUnread logs a warning for each variable Unread names, with the setting it was perhaps
// meant to be. Call it once everything command reads at start has been read. Values are not
// logged: a misspelt secret is still a secret.
func (e *Env) WarnUnread(environ []string, command string) {
	for _, name := range e.Unread(environ) {
		attrs := []any{"name", name, "command", command}
		if near := e.nearest(name); near != "" {
			attrs = append(attrs, "did_you_mean", near)
		}
		slog.Warn("unknown setting "+name+": nothing in "+command+" reads it, so it has no effect", attrs...)
	}
}

// nearest is the setting read whose name is closest to name, if one is close (a letter or
// two off); "" otherwise.
func (e *Env) nearest(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	best, bestDist := "", 3
	for read := range e.read {
		if d := editDistance(name, read); d < bestDist || (d == bestDist && best != "" && read < best) {
			best, bestDist = read, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// boolSetting reads the true-or-false setting name into dst when it is set. A value
// strconv.ParseBool does not read is added to errs, naming the setting, and leaves dst false.
func boolSetting(getenv func(string) string, errs *[]error, name string, dst *bool) {
	v := getenv(name)
	if v == "" {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s=%q: want true or false", name, v))
	}
	*dst = b
}
