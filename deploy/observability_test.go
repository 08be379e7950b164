package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// ruleFile is Prometheus's rule-file format (prometheus/prometheus model/rulefmt), decoded
// with unknown fields refused.
type ruleFile struct {
	Groups []struct {
		Name        string            `yaml:"name"`
		Interval    string            `yaml:"interval,omitempty"`
		QueryOffset string            `yaml:"query_offset,omitempty"`
		Limit       int               `yaml:"limit,omitempty"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Rules       []struct {
			Record        string            `yaml:"record,omitempty"`
			Alert         string            `yaml:"alert,omitempty"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for,omitempty"`
			KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
			Labels        map[string]string `yaml:"labels,omitempty"`
			Annotations   map[string]string `yaml:"annotations,omitempty"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promDuration is Prometheus's duration syntax (model.ParseDuration).
var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// runbookBase is where alerts link their runbook: deploy/OPERATIONS.md's section per alert.
const runbookBase = "https://github.com/medreq/pyxis/blob/main/deploy/OPERATIONS.md#"

// checkRules decodes a rule file strictly and returns what is wrong with it, and the alerts'
// expressions by name. anchors are the runbook sections that exist.
func checkRules(data []byte, anchors []string) (problems, map[string]string) {
	var p problems
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var rf ruleFile
	if err := dec.Decode(&rf); err != nil {
		p.addf("decode: %v", err)
		return p, nil
	}
	exprs := map[string]string{}
	groups := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			p.addf("group %q: a group needs a name of its own", g.Name)
		}
		groups[g.Name] = true
		if len(g.Rules) == 0 {
			p.addf("group %s has no rules", g.Name)
		}
		for _, r := range g.Rules {
			if r.Record != "" || r.Alert == "" {
				p.addf("group %s: only alerting rules belong here (record %q alert %q)", g.Name, r.Record, r.Alert)
				continue
			}
			name := r.Alert
			if !regexp.MustCompile(`^Pyxis[A-Z][A-Za-z0-9]+$`).MatchString(name) {
				p.addf("%s: alert names are PyxisCamelCase", name)
			}
			if _, dup := exprs[name]; dup {
				p.addf("%s: declared twice", name)
			}
			exprs[name] = r.Expr
			info, err := lexPromQL(r.Expr)
			if err != nil {
				p.addf("%s: expr: %v", name, err)
			}
			if !promDuration.MatchString(r.For) {
				p.addf("%s: for %q: want a duration such as 5m (a blip must not page)", name, r.For)
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				p.addf("%s: labels.severity %q: want critical, warning or info", name, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					p.addf("%s: annotations.%s is empty", name, a)
				}
			}
			if want := runbookBase + strings.ToLower(name); r.Annotations["runbook_url"] != want {
				p.addf("%s: runbook_url %q, want %q", name, r.Annotations["runbook_url"], want)
			} else if !slices.Contains(anchors, strings.ToLower(name)) {
				p.addf("%s: deploy/OPERATIONS.md has no section %s", name, name)
			}
			for key, text := range r.Annotations {
				if strings.Count(text, "{{") != strings.Count(text, "}}") {
					p.addf("%s: annotations.%s: unbalanced {{ }}", name, key)
				}
				for _, m := range regexp.MustCompile(`\$labels\.(\w+)`).FindAllStringSubmatch(text, -1) {
					if err == nil && !slices.Contains(info.outputLabels(), m[1]) {
						p.addf("%s: annotations.%s uses $labels.%s, which the expression's result does not carry", name, key, m[1])
					}
				}
			}
		}
	}
	return p, exprs
}

// markdownAnchors returns the GitHub anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^#+\s+(.+?)\s*$`).FindAllStringSubmatch(string(data), -1) {
		slug := strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				return r
			case r == ' ':
				return '-'
			}
			return -1
		}, strings.ToLower(m[1]))
		out = append(out, slug)
	}
	return out
}

func observabilityFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "observability", name))
	require.NoError(t, err)
	return data
}

// wantAlerts are the conditions that must page or warn, as metric -> the alert's for.
var wantAlerts = []struct{ alert, metric, forAtMost string }{
	{"PyxisRequestsPastDeadline", "pyxis_requests_past_deadline", "5m"},
	{"PyxisCabinetUnreachable", "pyxis_cabinet_reachable", "2m"},
	{"PyxisAuditChainBroken", "pyxis_audit_chain_ok", "1m"},
	{"PyxisAPIErrorRate", `pyxis_http_requests_total{status=~"5.."}`, ""},
	{"PyxisWorkflowTaskBacklog", "temporal_workflow_task_schedule_to_start_latency_seconds_bucket", ""},
	{"PyxisActivityBacklog", "temporal_activity_schedule_to_start_latency_seconds_bucket", ""},
	{"PyxisNoWorkerPollers", "temporal_num_pollers", ""},
}

func TestAlertRules(t *testing.T) {
	data := observabilityFile(t, "alerts.yaml")
	anchors := markdownAnchors(t, filepath.Join(repoRoot(t), "deploy", "OPERATIONS.md"))
	p, exprs := checkRules(data, anchors)
	assert.Empty(t, p)
	for _, w := range wantAlerts {
		assert.Containsf(t, exprs[w.alert], w.metric, "alert %s must watch %s", w.alert, w.metric)
	}
	var rf ruleFile
	require.NoError(t, yaml.Unmarshal(data, &rf))
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			for _, w := range wantAlerts {
				if w.alert == r.Alert && w.forAtMost != "" {
					assert.Equal(t, w.forAtMost, r.For, "%s: for", r.Alert)
				}
			}
		}
	}
}

func TestAlertRulesBroken(t *testing.T) {
	data := string(observabilityFile(t, "alerts.yaml"))
	anchors := markdownAnchors(t, filepath.Join(repoRoot(t), "deploy", "OPERATIONS.md"))
	tests := []struct{ name, old, new, want string }{
		{"unknown field", "        for: 2m\n", "        for: 2m\n        fro: 2m\n", "field fro not found"},
		{"no for", "        for: 2m\n", "", `for "": want a duration`},
		{"no severity", "          severity: critical\n        annotations:\n          summary: \"Cabinet", "          team: pharmacy\n        annotations:\n          summary: \"Cabinet", "labels.severity"},
		{"unknown metric", "expr: pyxis_cabinet_reachable == 0", "expr: pyxis_cabinet_reachble == 0", "unknown metric pyxis_cabinet_reachble"},
		{"unknown label", `{ack=~"AE|AR|CE|CR"}`, `{acknowledgment=~"AE|AR|CE|CR"}`, "has no label acknowledgment"},
		{"label the result lacks", "Cabinet {{ $labels.cabinet }} is unreachable", "Cabinet {{ $labels.cabinet_code }} is unreachable", "$labels.cabinet_code"},
		{"no summary", "          summary: No pyxis worker polls Temporal\n", "", "annotations.summary is empty"},
		{"runbook without a section", "alert: PyxisRestockBacklog", "alert: PyxisRestockQueue", "no section PyxisRestockQueue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, 1, strings.Count(data, tt.old), "the case must change exactly one place")
			broken := strings.Replace(data, tt.old, tt.new, 1)
			if tt.name == "runbook without a section" {
				broken = strings.Replace(broken, "#pyxisrestockbacklog", "#pyxisrestockqueue", 1)
			}
			p, _ := checkRules([]byte(broken), anchors)
			assert.Contains(t, strings.Join(p, "\n"), tt.want)
		})
	}
}

// dashboardPanel is the part of a Grafana panel the checks read.
type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// checkDashboard returns what is wrong with a Grafana dashboard, and the metrics it shows.
func checkDashboard(data []byte) (problems, []string) {
	var p problems
	var d struct {
		Title         string           `json:"title"`
		UID           string           `json:"uid"`
		SchemaVersion int              `json:"schemaVersion"`
		Panels        []dashboardPanel `json:"panels"`
		Templating    struct {
			List []struct{ Name, Type, Query string } `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		p.addf("not a JSON dashboard: %v", err)
		return p, nil
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		p.addf("dashboard: title, uid and a schemaVersion of Grafana 10 or later are required")
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		p.addf("dashboard: a datasource variable of type prometheus lets any Grafana import it")
	}
	ids := map[int]bool{}
	var shown []string
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, panel := range panels {
			if ids[panel.ID] || panel.ID == 0 {
				p.addf("panel %q: id %d is not unique", panel.Title, panel.ID)
			}
			ids[panel.ID] = true
			if panel.Type == "row" {
				walk(panel.Panels)
				continue
			}
			where := fmt.Sprintf("panel %d %q", panel.ID, panel.Title)
			if panel.Title == "" || panel.GridPos.W <= 0 || panel.GridPos.H <= 0 || panel.GridPos.X+panel.GridPos.W > 24 {
				p.addf("%s: a title and a gridPos within 24 columns are required", where)
			}
			if panel.Datasource == nil || panel.Datasource.UID != "${datasource}" {
				p.addf("%s: datasource must be the ${datasource} variable", where)
			}
			if len(panel.Targets) == 0 {
				p.addf("%s: no query", where)
			}
			refs := map[string]bool{}
			for _, tg := range panel.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					p.addf("%s: refId %q missing or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				info, err := lexPromQL(tg.Expr)
				if err != nil {
					p.addf("%s: %s: %v", where, tg.RefID, err)
				}
				shown = append(shown, info.metrics...)
			}
		}
	}
	walk(d.Panels)
	return p, shown
}

func TestGrafanaDashboard(t *testing.T) {
	p, shown := checkDashboard(observabilityFile(t, "grafana-dashboard.json"))
	assert.Empty(t, p)
	// Every pyxis metric of the contract is on the dashboard.
	for name := range metricContract {
		if !strings.HasPrefix(name, "pyxis_") {
			continue
		}
		assert.Truef(t, slices.ContainsFunc(shown, func(s string) bool { return s == name || strings.HasPrefix(s, name+"_") }),
			"the dashboard shows no panel of %s", name)
	}

	data := string(observabilityFile(t, "grafana-dashboard.json"))
	for _, tt := range []struct{ name, old, new, want string }{
		{"unknown metric", `pyxis_open_override_reviews)"`, `pyxis_open_override_review)"`, "unknown metric pyxis_open_override_review"},
		{"histogram without _bucket", "pyxis_request_lifecycle_seconds_bucket[$__rate_interval])))\",\n          \"legendFormat\": \"p95\"",
			"pyxis_request_lifecycle_seconds[$__rate_interval])))\",\n          \"legendFormat\": \"p95\"", "unknown metric pyxis_request_lifecycle_seconds"},
		{"not JSON", `"title": "Pyxis medication requests",`, `"title": "Pyxis medication requests"`, "not a JSON dashboard"},
	} {
		require.Equal(t, 1, strings.Count(data, tt.old), tt.name)
		p, _ := checkDashboard([]byte(strings.Replace(data, tt.old, tt.new, 1)))
		assert.Contains(t, strings.Join(p, "\n"), tt.want, tt.name)
	}
}
