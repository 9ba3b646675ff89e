package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"google.golang.org/grpc/codes"

	"backtestd/gateway/internal/gen/openapi"
)

// openAPISpec is the spec served at /openapi.json: protoc-gen-openapiv2's output, made to say
// what this gateway really does. Built once.
var openAPISpec = sync.OnceValues(func() ([]byte, error) { return patchOpenAPI(openapi.Spec) })

func serveOpenAPI(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	spec, err := openAPISpec()
	if err != nil {
		errorf(w, codes.Internal, "openapi spec: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(spec)
}

// patchOpenAPI adjusts the generated spec to the gateway:
//   - a title and a description (trailing slashes, auth, errors);
//   - 64-bit integers are numbers (see jsonMarshaler), not strings;
//   - error answers (the "default" responses) have the gateway's error body, Error; the chunks of
//     the ndjson stream keep google.rpc.Status (rpcStatus), which is what grpc-gateway writes there;
//   - the routes the gateway serves itself: /api/jobs/{job_id}/events, /healthz, /openapi.json;
//   - the Authorization header as an API key security scheme.
func patchOpenAPI(generated []byte) ([]byte, error) {
	var spec map[string]any
	if err := json.Unmarshal(generated, &spec); err != nil {
		return nil, fmt.Errorf("generated spec: %w", err)
	}
	spec["info"] = map[string]any{
		"title":   "backtestd REST/JSON API",
		"version": "v1",
		"description": "REST/JSON bridge to backtestd's gRPC API (package backtest.v1). A trailing slash is " +
			"optional on every path. Every call but /healthz and /openapi.json needs the header " +
			"`Authorization: Token <token>`. Errors answer {\"error\": message, \"code\": HTTP status, " +
			"\"grpc_code\": gRPC code name}. 64-bit integers are JSON numbers.",
	}
	spec["securityDefinitions"] = map[string]any{
		"Token": map[string]any{
			"type": "apiKey", "in": "header", "name": "Authorization",
			"description": "`Token <token>`, as printed by backtestd on first start or by `backtestd user add`.",
		},
	}
	spec["security"] = []any{map[string]any{"Token": []any{}}}

	int64AsNumber(spec)

	defs, _ := spec["definitions"].(map[string]any)
	if defs == nil {
		return nil, fmt.Errorf("generated spec has no definitions")
	}
	defs["Error"] = map[string]any{
		"type":        "object",
		"description": "An error answer of the gateway.",
		"properties": map[string]any{
			"error":     map[string]any{"type": "string", "description": "What went wrong, in words (the server's message)."},
			"code":      map[string]any{"type": "integer", "format": "int32", "description": "HTTP status code."},
			"grpc_code": map[string]any{"type": "string", "description": "gRPC status code name, e.g. INVALID_ARGUMENT."},
			"details": map[string]any{
				"type": "array", "description": "google.rpc error details, when the server sent some.",
				"items": map[string]any{"$ref": "#/definitions/protobufAny"},
			},
		},
		"required": []any{"error", "code", "grpc_code"},
	}
	errorRef := map[string]any{"$ref": "#/definitions/Error"}
	paths, _ := spec["paths"].(map[string]any)
	if paths == nil {
		return nil, fmt.Errorf("generated spec has no paths")
	}
	for _, item := range paths {
		ops, _ := item.(map[string]any)
		for _, op := range ops {
			if resp, ok := op.(map[string]any)["responses"].(map[string]any); ok {
				resp["default"] = map[string]any{"description": "An error.", "schema": errorRef}
			}
		}
	}

	errorResponse := func(desc string) map[string]any { return map[string]any{"description": desc, "schema": errorRef} }
	paths["/api/jobs/{job_id}/events"] = map[string]any{"get": map[string]any{
		"summary": "Live events of a job as Server-Sent Events (StreamJobLog).",
		"description": "Each event has `id: <seq>`, `event: log|progress|status|trace` and `data:` the JSON " +
			"of a StreamJobLogResponse. Sends the stored history from the first sequence number wanted, " +
			"then live events until the job ends, then `event: end`. A stream error after the start is " +
			"sent as `event: error` with the Error body. Comment lines (`: ping`) keep idle connections " +
			"open. Reconnecting with `Last-Event-ID: <last seq seen>` resumes at the next event.",
		"operationId": "Gateway_JobEvents",
		"tags":        []any{"BacktestService"},
		"produces":    []any{"text/event-stream"},
		"parameters": []any{
			map[string]any{"name": "job_id", "in": "path", "required": true, "type": "string", "description": "Id of the job."},
			map[string]any{"name": "from_seq", "in": "query", "required": false, "type": "integer", "format": "int64",
				"description": "First sequence number wanted (default 1, the whole history)."},
			map[string]any{"name": "include_trace", "in": "query", "required": false, "type": "boolean",
				"description": "Also send decision-trace batches."},
			map[string]any{"name": "Last-Event-ID", "in": "header", "required": false, "type": "string",
				"description": "Last sequence number seen; the stream resumes after it (takes precedence over from_seq)."},
		},
		"responses": map[string]any{
			"200":     map[string]any{"description": "An event stream (text/event-stream).", "schema": map[string]any{"type": "string"}},
			"default": errorResponse("An error before the stream started."),
		},
	}}
	paths["/healthz"] = map[string]any{"get": map[string]any{
		"summary":     "Whether backtestd answers its gRPC health check with SERVING.",
		"operationId": "Gateway_Healthz",
		"tags":        []any{"Gateway"},
		"security":    []any{},
		"responses": map[string]any{
			"200": map[string]any{"description": "Up.", "schema": map[string]any{"type": "object",
				"properties": map[string]any{"status": map[string]any{"type": "string", "example": "ok"}}}},
			"503": map[string]any{"description": "backtestd is down or not serving.", "schema": map[string]any{"type": "object",
				"properties": map[string]any{"status": map[string]any{"type": "string", "example": "unavailable"},
					"error": map[string]any{"type": "string"}}}},
		},
	}}
	paths["/openapi.json"] = map[string]any{"get": map[string]any{
		"summary":     "This document.",
		"operationId": "Gateway_OpenAPI",
		"tags":        []any{"Gateway"},
		"security":    []any{},
		"responses":   map[string]any{"200": map[string]any{"description": "The OpenAPI v2 spec.", "schema": map[string]any{"type": "object"}}},
	}}
	if tags, ok := spec["tags"].([]any); ok {
		spec["tags"] = append(tags, map[string]any{"name": "Gateway", "description": "Routes of the gateway itself."})
	}
	return json.MarshalIndent(spec, "", "  ")
}

// int64AsNumber rewrites every {"type": "string", "format": "int64"|"uint64"} schema or parameter
// to "type": "integer".
func int64AsNumber(v any) {
	switch t := v.(type) {
	case map[string]any:
		if f, _ := t["format"].(string); (f == "int64" || f == "uint64") && t["type"] == "string" {
			t["type"] = "integer"
		}
		for _, c := range t {
			int64AsNumber(c)
		}
	case []any:
		for _, c := range t {
			int64AsNumber(c)
		}
	}
}
