// The interactive API documentation at /docs: Swagger UI over /openapi.json, which is
// openapi.yaml itself. Both come from this origin, so "Try it out" calls the API beside them
// with the token given under "Authorize". URLs are relative to the page, so that on AWS, where
// it is /<stage>/docs, they stay inside the stage; the schema's server (`.`) does the same.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  displayRequestDuration: true,
  tryItOutEnabled: false,
});
