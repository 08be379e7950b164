package api

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/gin-gonic/gin"
)

// ReportSourcesBody sets the networks a cabinet's reports are believed from: CIDRs
// ("10.20.4.0/24", "10.20.4.17/32"); an empty list lets nobody report for it.
type ReportSourcesBody struct {
	ReportSources []string `json:"report_sources"`
}

// maxReportSources bounds a cabinet's list of report sources.
const maxReportSources = 32

// parseSources reads CIDRs into fe's errors under field; it returns them masked.
func parseSources(fe *fields, field string, in []string) []netip.Prefix {
	if len(in) > maxReportSources {
		fe.add(field, "at most %d networks", maxReportSources)
		return nil
	}
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			fe.add(fmt.Sprintf("%s[%d]", field, i), "is not a network in CIDR form such as 10.20.4.0/24")
			continue
		}
		if p.Bits() == 0 {
			// 0.0.0.0/0 or ::/0 believes every address: no source check at all.
			fe.add(fmt.Sprintf("%s[%d]", field, i), "must not be every address (%s): name the cabinet's own network", s)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

func sourceStrings(p []netip.Prefix) []string {
	out := make([]string, len(p))
	for i, n := range p {
		out[i] = n.String()
	}
	return out
}

// setReportSources replaces a cabinet's report sources, audited with before and after.
func (s *Server) setReportSources(c *gin.Context, id int64) {
	id, err := pathID(id, "cabinet")
	if err != nil {
		abort(c, err)
		return
	}
	var body ReportSourcesBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if body.ReportSources == nil {
		fe.add("report_sources", "is required (an empty list lets nobody report)")
	}
	sources := parseSources(&fe, "report_sources", body.ReportSources)
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	after, err := s.catalogue.SetCabinetReportSources(c.Request.Context(), id, sources, actor(c))
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, cabinetView(after))
}
