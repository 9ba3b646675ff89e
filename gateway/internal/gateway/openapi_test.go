package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAddGatewaySpecOnlyAdds: the gateway's document adds its paths, definitions and tags to the
// generated spec and changes nothing generated; a name in both is an error.
func TestAddGatewaySpecOnlyAdds(t *testing.T) {
	generated := `{"paths": {"/a": {"get": {"x": 1}}}, "definitions": {"A": {"type": "object"}}, "tags": [{"name": "S"}]}`
	out, err := addGatewaySpec([]byte(generated), []byte(`{"paths": {"/b": {}}, "definitions": {"E": {}}, "tags": [{"name": "G"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(out, &spec); err != nil {
		t.Fatal(err)
	}
	paths, defs, tags := spec["paths"].(map[string]any), spec["definitions"].(map[string]any), spec["tags"].([]any)
	if len(paths) != 2 || paths["/a"].(map[string]any)["get"].(map[string]any)["x"] != 1.0 || len(defs) != 2 || len(tags) != 2 {
		t.Errorf("merged: %s", out)
	}
	for _, own := range []string{`{"paths": {"/a": {}}}`, `{"definitions": {"A": {}}}`} {
		if _, err := addGatewaySpec([]byte(generated), []byte(own)); err == nil || !strings.Contains(err.Error(), "both generated and the gateway's") {
			t.Errorf("%s: %v, want an error", own, err)
		}
	}
}
