package api

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// contentSecurityPolicy suits an API that only ever answers JSON: nothing may load, run or
// frame anything from a response, should a browser ever render one.
const contentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders sets the security headers of every response, before the handler runs, so
// errors and aborts carry them too. Responses of /v1 and /codec hold patient data and are
// never cached. HSTS is only sent when asked for: it is right only behind TLS.
func securityHeaders(hsts bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if p := c.Request.URL.Path; strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/codec/") {
			h.Set("Cache-Control", "no-store")
		}
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		c.Next()
	}
}
