package api

import (
	"embed"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"
)

// docsFS holds the reference page: Swagger UI, vendored from npm (docs/README.md says which
// version, under which licence, and how to update it), and the page that starts it.
//
//go:embed docs/index.html docs/init.js docs/swagger-ui-bundle.js docs/swagger-ui.css
var docsFS embed.FS

// docsAssets are the files GET /docs/{asset} serves, with their content types.
var docsAssets = map[string]string{
	"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
	"swagger-ui.css":       "text/css; charset=utf-8",
	"init.js":              "text/javascript; charset=utf-8",
}

// docsCSP loosens the API's policy (headers.go) just enough for the page: scripts and styles
// from this server only (Swagger UI sets inline style attributes, hence 'unsafe-inline' for
// styles, never for scripts), its inline SVG images, and calls to this server to fetch the
// document and to try requests out.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// serveDocs registers GET /docs and its assets. They need no token: the page shows the
// contract, which /openapi.json serves to anyone, and holds no data.
func serveDocs(r gin.IRouter) {
	page := func(c *gin.Context, name, contentType string) {
		raw, err := docsFS.ReadFile(path.Join("docs", name))
		if err != nil {
			abort(c, notFound("file"))
			return
		}
		c.Header("Content-Security-Policy", docsCSP)
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, contentType, raw)
	}
	r.GET("/docs", func(c *gin.Context) { page(c, "index.html", "text/html; charset=utf-8") })
	r.GET("/docs/:asset", func(c *gin.Context) {
		name := c.Param("asset")
		contentType, ok := docsAssets[name]
		if !ok {
			abort(c, notFound("file"))
			return
		}
		page(c, name, contentType)
	})
}
