package loadtest

import (
	"html/template"
	"io"
	"strings"
)

// WriteHTML writes the report as one self-contained page: the tables, the targets, and charts
// of latency over time, calls per second and latency histograms, drawn as inline SVG.
func (r *Report) WriteHTML(w io.Writer) error {
	var outcomes strings.Builder
	r.writeOutcomes(&outcomes)
	page := htmlPage{Report: r, Summary: r.describeRun(), Outcomes: strings.TrimSpace(outcomes.String())}
	page.Rows = append(append(page.Rows, r.Endpoints...), r.Aggregated)

	var rate []lineSeries
	for i, e := range r.Endpoints {
		if e.Count == 0 {
			continue
		}
		color := palette[i%len(palette)]
		pts, width := downsample(e.Series)
		p50 := lineSeries{name: "p50", color: palette[0]}
		p99 := lineSeries{name: "p99", color: palette[1], dashed: true}
		calls := lineSeries{name: e.Name, color: color}
		for _, p := range pts {
			p50.xs, p50.ys = append(p50.xs, p.T), append(p50.ys, p.P50Ms)
			p99.xs, p99.ys = append(p99.xs, p.T), append(p99.ys, p.P99Ms)
			calls.xs, calls.ys = append(calls.xs, p.T), append(calls.ys, float64(p.Count)/width)
		}
		rate = append(rate, calls)
		page.Latency = append(page.Latency, template.HTML(lineChart("latency-over-time", e.Name+": latency over time", "ms", []lineSeries{p50, p99})))
		page.Histograms = append(page.Histograms, template.HTML(barChart("histogram", e.Name+": latency histogram", e.Histogram)))
	}
	page.Rate = template.HTML(lineChart("calls-per-second", "Calls per second", "calls/s", rate))
	if r.Lifecycle != nil {
		page.Lifecycle = template.HTML(barChart("lifecycle-histogram", "Lifecycle: created → dispensed (server timestamps)", r.Lifecycle.Histogram))
	}
	return pageTemplate.Execute(w, page)
}

// htmlPage is what the page template shows. The charts are SVG made in this package, their
// text escaped, hence template.HTML.
type htmlPage struct {
	*Report
	Summary    string
	Outcomes   string
	Rows       []EndpointReport
	Latency    []template.HTML
	Histograms []template.HTML
	Rate       template.HTML
	Lifecycle  template.HTML
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms": ms, "num": num, "pct": func(v float64) string { return num(round(100*v, 2)) + "%" },
	"loads": loadString,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Pyxis load test: {{.Run.Scenario}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.agg td { font-weight: bold; }
.met { color: #2a7d2a; font-weight: bold; } .missed { color: #c62828; font-weight: bold; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
svg.chart { display: block; margin: 1em 0; background: #fff; border: 1px solid #ddd; }
svg .axis { stroke: #444; } svg .grid { stroke: #eee; }
svg .tick { font-size: 10px; fill: #555; } svg .label { font-size: 11px; fill: #333; }
svg .title { font-size: 13px; font-weight: bold; fill: #222; }
</style>
</head>
<body>
<h1>Pyxis load test: {{.Run.Scenario}}</h1>
<p>{{.Summary}}.<br>Measured {{num .DurationSeconds}}s from {{.StartedAt.Format "2006-01-02 15:04:05Z07:00"}}; load average {{loads .Environment.LoadAverageStart}} at start, {{loads .Environment.LoadAverageEnd}} at the end; {{.Environment.NumCPU}} CPUs, {{.Environment.GoVersion}}.</p>
{{if .Targets}}<h2>Targets</h2>
<table><tr><th>target</th><th>value</th><th></th><th>threshold</th><th>unit</th><th></th><th>what</th></tr>
{{range .Targets}}<tr><td>{{.Name}}</td><td>{{num .Value}}</td><td>{{.Comparison}}</td><td>{{num .Threshold}}</td><td>{{.Unit}}</td><td>{{if .Met}}<span class="met">met</span>{{else}}<span class="missed">missed</span>{{end}}</td><td style="text-align:left">{{.Description}}</td></tr>
{{end}}</table>{{end}}
<h2>Requests</h2>
<table><tr><th>endpoint</th><th># reqs</th><th># fails</th><th>5xx</th><th>429</th><th>other</th><th>expected 409</th><th>avg</th><th>min</th><th>max</th><th>median</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>req/s</th></tr>
{{range .Rows}}<tr{{if eq .Name "Aggregated"}} class="agg"{{end}}><td>{{.Name}}</td><td>{{.Count}}</td><td>{{.Failures}} ({{pct .FailureRatio}})</td><td>{{index .FailuresByClass "5xx"}}</td><td>{{index .FailuresByClass "429"}}</td><td>{{index .FailuresByClass "other"}}</td><td>{{.Expected}}</td><td>{{ms .Latency.Mean}}</td><td>{{ms .Latency.Min}}</td><td>{{ms .Latency.Max}}</td><td>{{ms .Latency.Median}}</td><td>{{ms .Latency.P90}}</td><td>{{ms .Latency.P95}}</td><td>{{ms .Latency.P99}}</td><td>{{ms .Latency.P999}}</td><td>{{num .RPS}}</td></tr>
{{end}}</table>
<p>Latencies in milliseconds, from HDR histograms; rates over each endpoint's span of calls.</p>
<h2>Outcome</h2>
<pre>{{.Outcomes}}</pre>
<h2>Latency over time</h2>
{{range .Latency}}{{.}}
{{end}}
<h2>Calls per second</h2>
{{.Rate}}
<h2>Latency histograms</h2>
{{range .Histograms}}{{.}}
{{end}}
{{if .Lifecycle}}<h2>Lifecycle</h2>
{{.Lifecycle}}{{end}}
{{if .ErrorExamples}}<h2>First failures</h2>
<ul>{{range .ErrorExamples}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body>
</html>
`))
