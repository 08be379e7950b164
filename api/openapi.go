package api

import (
	_ "embed"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"
)

// The document is the source of the /v1 routes: server.gen.go registers them from it, and the
// client in api/client is generated from it too.
//
//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o server.gen.go openapi.yaml

// openapiYAML is the API contract, OpenAPI 3.1 (openapi.yaml).
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPIYAML returns the API contract as written, OpenAPI 3.1 in YAML.
func OpenAPIYAML() []byte { return slices.Clone(openapiYAML) }

// contract is the document as the server uses it: the JSON it serves and, per route, what the
// document says the route admits. It is read once per process and never changed.
type contract struct {
	json []byte
	// ops is keyed by method and gin path ("GET /v1/requests/:id").
	ops map[string]operation
}

// operation is what the router needs to know of one operation of the document.
type operation struct {
	// roles are the scopes of its security requirements: the roles it admits, none meaning
	// every role.
	roles []string
	// intParams are its integer path and query parameters, which the generated wrapper
	// parses before the handler runs.
	intParams map[string]string // name -> "path" or "query"
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	raw, err := yaml.YAMLToJSON(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml as JSON: %w", err)
	}
	c := &contract{json: raw, ops: map[string]operation{}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			o := operation{intParams: map[string]string{}}
			security := op.Security
			if security == nil {
				security = &doc.Security
			}
			for _, req := range *security {
				for _, scopes := range req {
					for _, role := range scopes {
						if !slices.Contains(o.roles, role) {
							o.roles = append(o.roles, role)
						}
					}
				}
			}
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if s := p.Value.Schema; s != nil && s.Value.Type.Is(openapi3.TypeInteger) {
					o.intParams[p.Value.Name] = p.Value.In
				}
			}
			c.ops[method+" "+GinPath(path)] = o
		}
	}
	return c, nil
})

// GinPath turns a path template of the document into gin's form: /v1/requests/{id} becomes
// /v1/requests/:id.
func GinPath(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			parts[i] = ":" + p[1:len(p)-1]
		}
	}
	return strings.Join(parts, "/")
}

// mustContract returns the contract; the document is embedded, so a failure to read it is a
// build that must not run (a test fails first: TestDocumentValidates).
func mustContract() *contract {
	c, err := loadContract()
	if err != nil {
		panic(err)
	}
	return c
}

// authorize lets through only the roles the document admits for the route: the scopes of its
// security requirements (OpenAPI 3.1 allows role names there for any kind of scheme). It runs
// after authentication, and before the generated wrapper parses parameters, so a caller of the
// wrong role learns nothing from a malformed parameter. A route the document does not know is
// refused: it cannot be registered by the generated code, and a hand-registered one must be
// documented first.
//
// hidden, when set, is asked first about a caller the route's roles refuse: an error it
// returns is answered instead of the 403 (a nurse on a route of a request she may not see
// gets the 404 of a request that does not exist).
func (c *contract) authorize(hidden func(*gin.Context) error) gin.HandlerFunc {
	return func(ctx *gin.Context) {
		op, ok := c.ops[ctx.Request.Method+" "+ctx.FullPath()]
		if !ok {
			abort(ctx, newError(http.StatusForbidden, CodeForbidden, "this route is not in the API document", nil))
			return
		}
		if a := actor(ctx); len(op.roles) > 0 && !slices.Contains(op.roles, a.Role) {
			if hidden != nil {
				if err := hidden(ctx); err != nil {
					abort(ctx, err)
					return
				}
			}
			abort(ctx, newError(http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("role %q may not do this; allowed: %s", a.Role, strings.Join(op.roles, ", ")), nil))
			return
		}
		ctx.Next()
	}
}

// paramError answers a parameter the generated wrapper could not parse the way the handlers
// answer it: a path id that is no number names nothing (404), a query parameter that is no
// number is a validation failure naming it (422). err is the wrapper's and is not sent.
func (c *contract) paramError(ctx *gin.Context, err error, _ int) {
	op := c.ops[ctx.Request.Method+" "+ctx.FullPath()]
	// An empty path segment (POST /v1/requests//approve, what a shell sends when $REQ is
	// empty) names no resource.
	for _, p := range ctx.Params {
		if p.Value == "" {
			abort(ctx, newError(http.StatusNotFound, CodeNotFound, p.Key+" is empty: it names nothing", nil))
			return
		}
	}
	var fe fields
	for name, in := range op.intParams {
		switch {
		case in == "path" && !isInteger(ctx.Param(name)):
			abort(ctx, newError(http.StatusNotFound, CodeNotFound, name+" names nothing: it is not a number", nil))
			return
		case in == "query" && ctx.Query(name) != "" && !isInteger(ctx.Query(name)):
			fe.add(name, "must be an integer")
		}
	}
	switch {
	case len(fe) > 0:
	case len(ctx.Request.Header.Values("Idempotency-Key")) > 1:
		fe.add("Idempotency-Key", "must be sent once")
	default:
		fe.add("parameters", "could not be read")
	}
	_ = ctx.Error(err)
	abort(ctx, fe.err())
}

func isInteger(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// serveOpenAPI answers GET /openapi.json with the document.
func (c *contract) serveOpenAPI(ctx *gin.Context) {
	ctx.Data(http.StatusOK, "application/json", c.json)
}
