"""Amazon API Gateway (REST API, Lambda proxy integrations): the data plane moto does not serve.

moto stores the REST API, its stage, keys and usage plans (emulation.provision.api creates them);
this package answers `http://127.0.0.1:<api_port>/<stage>/<path>` as API Gateway does.

    service      ApiGatewayService: the stage and the order of API Gateway's checks
    transport    the HTTP/1.1 front door: what is answered before a route (framing, limits)
    routing      resource matching (`/invoices/{invoice_no}`, `{proxy+}`)
    keys         API keys and usage plans as the gateway enforces them
    throttle     usage-plan token bucket and quota, per key
    validation   request-body validation against the route's model (JSON Schema draft 4)
    proxy        the REST proxy event and the proxy response mapping
    export       GetExport: the OpenAPI document of the described API (moto forwards it)

Known gaps vs AWS:
- No custom domain names, authorizers, CORS, caching, stage variables, canary or WAF.
- The 29 s integration timeout answers 504 but the function keeps running to its own timeout.
- The `Request Too Long` check uses Content-Length (or the bytes read of a chunked body).
- Transport: AWS sits behind CloudFront/ELB, whose own answers to some malformed requests are not
  JSON; here every answer is the gateway's JSON. Which status AWS gives a CONNECT or a bad chunk
  size is not documented; `transport` follows RFC 9110/9112.
- Request bodies are JSON-parsed only on routes with a model: a body nested deeper than Python's
  parser allows there is 400 `Invalid request body`.
- Routing: `x-amazon-apigateway-any-method` (ANY) and HEAD/OPTIONS auto-answers (CORS mock) are
  not served; a trailing slash is not folded onto the resource (`/events/` does not match `/events`).
- Keys: a key disabled or detached in moto keeps working until an unknown key triggers a refresh;
  key values are matched exactly (AWS's 20-character minimum is enforced only at creation).
- Throttling: quota periods are calendar periods in UTC (day; ISO week from Monday; month) without
  the plan's `offset`, and usage lives in memory (a restart of the runtime resets it; AWS keeps
  it); only usage-plan limits apply (no account-level 10,000 rps or stage/method throttles); AWS's
  token bucket is distributed and approximate, this one is exact.
- Validation: AWS validates with its own draft-4 validator and edge cases may differ (`format` is
  not checked here, Python's `re` runs `pattern`, whose `$` also matches before a final newline;
  AWS's `validationErrorString` is not reproduced); models referencing other models by URL (`$ref`
  to `https://apigateway.amazonaws.com/...`) are not resolved. The 400 body's `errors` list is
  our extension (AWS sends only `message`).
- Proxy events: no binary media types (bodies are text when UTF-8, base64 otherwise);
  `requestContext.identity` has no Cognito/IAM caller data and `sourceIp` is the TCP peer, not
  `X-Forwarded-For`; API Gateway's CloudFront/X-Forwarded-* headers are not added.
- GetExport: only `oas30` (no `swagger` 2.0, `postman` or `authorizers` variants); `info.version`
  is the document's, not the deployment date; the export is of the description, so a method added
  by hand with `put-method` is not in it (moto's own export answers for REST APIs the description
  does not name); with the runtime down, GetExport of the described API fails with a
  ServiceException naming the fix instead of answering moto's skeleton.
"""
