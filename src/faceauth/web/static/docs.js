// Starts Swagger UI on /docs (web/docs.py): kept out of the page, whose policy allows no inline script.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
});
