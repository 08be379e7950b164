// Starts Swagger UI on the API's own document. A file of its own, not an inline script, so the
// page's Content-Security-Policy can forbid inline scripts. validatorUrl null: the UI would
// otherwise send the document to validator.swagger.io to draw a badge.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
  });
});
