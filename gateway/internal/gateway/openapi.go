package gateway

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"google.golang.org/grpc/codes"

	"backtestd/gateway/internal/gen/openapi"
)

// gatewaySpec describes what the gateway serves itself, in OpenAPI v2: its routes
// (/api/jobs/{job_id}/events, /healthz, /readyz, /openapi.json) and tag, and its error body (Error), which
// every generated operation names as its error answer (protos/backtest/v1/backtest_openapi.yaml).
//
//go:embed openapi_gateway.json
var gatewaySpec []byte

// openAPISpec is the spec served at /openapi.json: protoc-gen-openapiv2's output as generated,
// with the gateway's own document added beside it. Built once.
var openAPISpec = sync.OnceValues(func() ([]byte, error) { return addGatewaySpec(openapi.Spec, gatewaySpec) })

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

// addGatewaySpec adds the paths, definitions and tags of the gateway's document to the generated
// spec. It adds only: a name both documents define is an error, not an override.
func addGatewaySpec(generated, gateway []byte) ([]byte, error) {
	var spec, own map[string]any
	if err := json.Unmarshal(generated, &spec); err != nil {
		return nil, fmt.Errorf("generated spec: %w", err)
	}
	if err := json.Unmarshal(gateway, &own); err != nil {
		return nil, fmt.Errorf("gateway spec: %w", err)
	}
	for _, section := range []string{"paths", "definitions"} {
		into, _ := spec[section].(map[string]any)
		if into == nil {
			return nil, fmt.Errorf("generated spec has no %s", section)
		}
		add, _ := own[section].(map[string]any)
		for name, v := range add {
			if _, dup := into[name]; dup {
				return nil, fmt.Errorf("%s %q is both generated and the gateway's", section, name)
			}
			into[name] = v
		}
	}
	tags, _ := spec["tags"].([]any)
	ownTags, _ := own["tags"].([]any)
	spec["tags"] = append(tags, ownTags...)
	return json.MarshalIndent(spec, "", "  ")
}
