package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"

	"github.com/medreq/pyxis/internal/metrics"
)

// metricKind is how a metric is exposed.
type metricKind = metrics.Kind

const (
	counter   = metrics.Counter
	gauge     = metrics.Gauge
	histogram = metrics.Histogram // exposed as _bucket (with le), _sum and _count
)

// metricContract is every metric the system exports, with its labels: the names the
// dashboard and the alerts may use. It is the code's own list (internal/metrics.Contract),
// from which the pyxis_ metrics are built; the temporal_ ones are the Go SDK's, under the
// names the SDK handler gives them.
var metricContract = func() map[string]struct {
	kind   metricKind
	labels []string
} {
	out := make(map[string]struct {
		kind   metricKind
		labels []string
	}, len(metrics.Contract))
	for _, d := range metrics.Contract {
		out[d.Name] = struct {
			kind   metricKind
			labels []string
		}{d.Kind, d.Labels}
	}
	return out
}()

// targetLabels are attached by Prometheus to every series it scrapes (job and instance, and
// the Kubernetes service discovery's usual relabelling).
var targetLabels = []string{"job", "instance", "namespace", "pod"}

// series returns the labels of an exposed series name, and whether it exists.
func series(name string) (labels []string, ok bool) {
	if m, found := metricContract[name]; found && m.kind != histogram {
		return m.labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, cut := strings.CutSuffix(name, suffix)
		if m, found := metricContract[base]; cut && found && m.kind == histogram {
			if suffix == "_bucket" {
				return append(slices.Clone(m.labels), "le"), true
			}
			return m.labels, true
		}
	}
	return nil, false
}

var (
	promFunctions = []string{
		"abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
		"clamp_min", "count_over_time", "delta", "deriv", "floor", "histogram_count", "histogram_fraction",
		"histogram_quantile", "histogram_sum", "idelta", "increase", "irate", "label_join", "label_replace",
		"last_over_time", "max_over_time", "min_over_time", "predict_linear", "present_over_time",
		"quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sum_over_time",
		"time", "timestamp", "vector",
	}
	promAggregations = []string{"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk"}
	promGrouping     = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
	promKeywords     = []string{"and", "or", "unless", "bool", "offset"}
)

// exprInfo is what lexing an expression found.
type exprInfo struct {
	metrics    []string // series names used
	grouping   []string // labels named in by/without/on/ignoring/group_*
	aggregated bool
}

// outputLabels approximates the labels an expression's result keeps, for $labels.x in alert
// annotations: the grouping labels after an aggregation, else the series' own.
func (e exprInfo) outputLabels() []string {
	out := slices.Clone(e.grouping)
	if !e.aggregated {
		for _, m := range e.metrics {
			l, _ := series(m)
			out = append(out, l...)
		}
		out = append(out, targetLabels...)
	}
	return out
}

// lexPromQL reads a PromQL expression far enough to find every series it selects, the
// label matchers and grouping labels, and the functions it calls, and checks them against
// the metric contract. Grafana's $variables are allowed in range brackets and strings.
func lexPromQL(expr string) (exprInfo, error) {
	var info exprInfo
	var stack []byte
	s := expr
	prevMetric := "" // the series a following { belongs to
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return info, fmt.Errorf("unterminated string")
			}
			i += end + 2
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return info, fmt.Errorf("unterminated range [")
			}
			i += end + 1
		case c == '{':
			if prevMetric == "" {
				return info, fmt.Errorf("a selector without a metric name at %q", s[i:])
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return info, fmt.Errorf("unterminated {")
			}
			if err := checkMatchers(prevMetric, s[i+1:i+end]); err != nil {
				return info, err
			}
			i += end + 1
			prevMetric = ""
		case c == '(':
			stack = append(stack, ')')
			i++
			prevMetric = ""
		case c == ')':
			if len(stack) == 0 || stack[len(stack)-1] != ')' {
				return info, fmt.Errorf("unbalanced )")
			}
			stack = stack[:len(stack)-1]
			i++
			prevMetric = ""
		case c == ']' || c == '}':
			return info, fmt.Errorf("unbalanced %c", c)
		case unicode.IsDigit(rune(c)) || (c == '.' && i+1 < len(s) && unicode.IsDigit(rune(s[i+1]))):
			j := i
			for j < len(s) && (isIdent(s[j]) || s[j] == '.' || ((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			i = j
			prevMetric = ""
		case isIdent(c) || c == ':':
			j := i
			for j < len(s) && (isIdent(s[j]) || s[j] == ':') {
				j++
			}
			word := s[i:j]
			i = j
			next := strings.TrimLeft(s[i:], " \t\n")
			prevMetric = ""
			switch {
			case slices.Contains(promGrouping, word):
				if !strings.HasPrefix(next, "(") {
					if word == "group_left" || word == "group_right" {
						continue
					}
					return info, fmt.Errorf("%s without a label list", word)
				}
				start := len(s) - len(next) + 1
				end := strings.IndexByte(s[start:], ')')
				if end < 0 {
					return info, fmt.Errorf("unterminated %s (", word)
				}
				for l := range strings.SplitSeq(s[start:start+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						info.grouping = append(info.grouping, l)
					}
				}
				i = start + end + 1
			case slices.Contains(promAggregations, word):
				info.aggregated = true
			case slices.Contains(promKeywords, word):
			case strings.HasPrefix(next, "("):
				if !slices.Contains(promFunctions, word) {
					return info, fmt.Errorf("unknown function %s", word)
				}
			default:
				if _, ok := series(word); !ok {
					return info, fmt.Errorf("unknown metric %s", word)
				}
				info.metrics = append(info.metrics, word)
				prevMetric = word
			}
		case strings.ContainsRune("+-*/%^=!<>,", rune(c)):
			i++
			prevMetric = ""
		default:
			return info, fmt.Errorf("unexpected %q at %q", c, s[i:])
		}
	}
	if len(stack) > 0 {
		return info, fmt.Errorf("unbalanced (")
	}
	if len(info.metrics) == 0 {
		return info, fmt.Errorf("selects no metric")
	}
	known := slices.Clone(targetLabels)
	for _, m := range info.metrics {
		l, _ := series(m)
		known = append(known, l...)
	}
	for _, g := range info.grouping {
		if !slices.Contains(known, g) {
			return info, fmt.Errorf("groups by %s, which none of %v has", g, info.metrics)
		}
	}
	return info, nil
}

func isIdent(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// checkMatchers checks the label matchers of one selector against the metric's labels.
func checkMatchers(metric, body string) error {
	labels, _ := series(metric)
	for body = strings.TrimSpace(body); body != ""; {
		j := 0
		for j < len(body) && isIdent(body[j]) {
			j++
		}
		name := body[:j]
		rest := strings.TrimLeft(body[j:], " ")
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(rest, o) {
				op = o
				break
			}
		}
		if name == "" || op == "" {
			return fmt.Errorf("%s{%s}: want label op \"value\"", metric, body)
		}
		if !slices.Contains(labels, name) && !slices.Contains(targetLabels, name) {
			return fmt.Errorf("%s has no label %s", metric, name)
		}
		rest = strings.TrimLeft(rest[len(op):], " ")
		if rest == "" || rest[0] != '"' {
			return fmt.Errorf("%s{%s}: the value must be a double-quoted string", metric, name)
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return fmt.Errorf("%s{%s}: unterminated value", metric, name)
		}
		body = strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(rest[end+2:], " "), ","), " ")
	}
	return nil
}

func TestLexPromQL(t *testing.T) {
	tests := []struct {
		expr, err string
	}{
		{expr: `sum by (status) (rate(pyxis_http_requests_total{status=~"5..", route!="/healthz"}[5m]))`},
		{expr: `histogram_quantile(0.95, sum by (le, priority) (rate(pyxis_approval_wait_seconds_bucket[$__rate_interval])))`},
		{expr: `(sum(temporal_num_pollers) or vector(0)) == 0`},
		{expr: `pyxis_cabinet_reachable{cabinet="PYX-ICU-01"} == 0`},
		{expr: `sum(rate(pyxis_http_requests_total[5m])) by (route) > 1e3`},
		{expr: `pyxis_http_requests_totl`, err: "unknown metric pyxis_http_requests_totl"},
		{expr: `rate(pyxis_approval_wait_seconds[5m])`, err: "unknown metric pyxis_approval_wait_seconds"},
		{expr: `pyxis_cabinet_reachable{cabinett="x"}`, err: "has no label cabinett"},
		{expr: `sum by (cabinet) (pyxis_requests_past_deadline)`, err: "groups by cabinet"},
		{expr: `rat(pyxis_requests_started_total[5m])`, err: "unknown function rat"},
		{expr: `sum(rate(pyxis_requests_started_total[5m])`, err: "unbalanced ("},
		{expr: `{__name__="pyxis_audit_chain_ok"}`, err: "without a metric name"},
		{expr: `1 + 1`, err: "selects no metric"},
	}
	for _, tt := range tests {
		_, err := lexPromQL(tt.expr)
		if tt.err == "" {
			assert.NoError(t, err, tt.expr)
		} else if assert.Error(t, err, tt.expr) {
			assert.Contains(t, err.Error(), tt.err, tt.expr)
		}
	}
}
