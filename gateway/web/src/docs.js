// The interactive API page at /docs: swagger-ui (from the swagger-ui-dist package, served from the
// gateway) on /openapi.json, sending the dashboard's token with every "Try it out" call.
import { authHeader, initTokenBox } from './api.js';

initTokenBox();
window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger',
  deepLinking: true,
  tryItOutEnabled: false,
  requestInterceptor: (req) => {
    const auth = authHeader();
    if (auth && !req.headers.Authorization) req.headers.Authorization = auth;
    return req;
  },
});
