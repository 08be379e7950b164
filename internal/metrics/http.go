package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// UnmatchedRoute is the route label of requests no route matched (404, 405): the raw path
// is never a label, since it is unbounded and ids in it are close to patient data.
const UnmatchedRoute = "unmatched"

// HTTP holds the api's HTTP metrics.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// HTTP returns the HTTP metrics, registering them on first use.
func (r *Registry) HTTP() *HTTP {
	if r == nil {
		return nil
	}
	return group(r, &r.http, func() (*HTTP, []prometheus.Collector) {
		h := &HTTP{
			requests: counterVec(HTTPRequests),
			duration: histogramVec(HTTPDuration, prometheus.DefBuckets),
		}
		return h, []prometheus.Collector{h.requests, h.duration}
	})
}

// Middleware records every request: its route template (gin's FullPath, UnmatchedRoute
// when none matched), method and status. Put it first, so that it sees the status a
// recovered panic was answered with, and the time of everything else.
func (h *HTTP) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if h == nil {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = UnmatchedRoute
		}
		method := methodLabel(c.Request.Method)
		h.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		h.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// methodLabel keeps the method label bounded: a client may send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
