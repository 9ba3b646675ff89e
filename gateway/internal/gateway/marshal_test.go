package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"backtestd/gateway/internal/fakebackend"
	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %v: %s", err, b)
	}
	return v
}

// sameJSON compares our output with protojson's, where protojson's quoted 64-bit integers must be
// numbers in ours.
func sameJSON(ours, theirs any, path string, t *testing.T) {
	t.Helper()
	switch th := theirs.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok || len(o) != len(th) {
			t.Errorf("%s: %v, protojson %v", path, ours, theirs)
			return
		}
		for k, v := range th {
			sameJSON(o[k], v, path+"."+k, t)
		}
	case []any:
		o, ok := ours.([]any)
		if !ok || len(o) != len(th) {
			t.Errorf("%s: %v, protojson %v", path, ours, theirs)
			return
		}
		for i := range th {
			sameJSON(o[i], th[i], path, t)
		}
	case string:
		if n, ok := ours.(json.Number); ok && string(n) == th {
			return // an int64 protojson quotes
		}
		if ours != theirs {
			t.Errorf("%s: %v, protojson %v", path, ours, theirs)
		}
	default:
		if ours != theirs {
			t.Errorf("%s: %v (%T), protojson %v (%T)", path, ours, ours, theirs, theirs)
		}
	}
}

func TestMarshalMatchesProtojsonButInt64(t *testing.T) {
	m := newJSONMarshaler()
	min := 0.5
	bar := int64(7)
	payload, _ := structpb.NewStruct(map[string]any{"passed": true, "reason": "ok", "n": 3, "list": []any{1, "a", nil}, "nested": map[string]any{"x": nil}})
	msgs := []proto.Message{
		fakebackend.Result("j1", 5, time.Hour, 0),
		&backtestv1.GetResultResponse{}, // every field unset
		&backtestv1.Job{JobId: "j", Params: map[string]*structpb.Value{"b": structpb.NewBoolValue(true), "a": structpb.NewStringValue("x\n\"y\"\t\u2028<&>é")},
			CreatedAt: timestamppb.Now(), Progress: &backtestv1.Progress{Fraction: 1e-7, BarsTotal: 1 << 40}},
		&backtestv1.ParamDefinition{Name: "rr", Min: &min},
		&backtestv1.ParamDefinition{Name: "rr"},
		&backtestv1.ExplainResponse{BarIndex: &bar, Values: payload},
		&backtestv1.ExplainResponse{},
		&backtestv1.StreamJobLogResponse{Seq: 3, Event: &backtestv1.StreamJobLogResponse_Log{Log: &backtestv1.LogLine{Text: "x"}}},
		&backtestv1.StreamJobLogResponse{Seq: 4, Event: &backtestv1.StreamJobLogResponse_Trace{Trace: &backtestv1.TraceBatch{Rows: []*backtestv1.TraceRow{{Seq: -1, Payload: payload}}}}},
		&backtestv1.StreamJobLogResponse{},
		&backtestv1.Stats{Sharpe: 1e21, Sortino: -1e-9, Calmar: 123456789.125, Sqn: nan(), ProfitFactor: posInf(), ReturnPct: -posInf()},
		structpb.NewStringValue("plain"),
	}
	for i, msg := range msgs {
		ours, err := m.Marshal(msg)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		theirs, err := m.MarshalOptions.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(decodeJSON(t, ours), decodeJSON(t, theirs), "msg"+itoa(i), t)

		// What we write reads back to the same message.
		back := msg.ProtoReflect().New().Interface()
		if err := m.Unmarshal(ours, back); err != nil {
			t.Fatalf("%d: reading back %s: %v", i, ours, err)
		}
		if !proto.Equal(back, msg) {
			t.Errorf("%d: round trip changed the message:\n%s", i, ours)
		}
	}
}

func TestMarshalInt64AsNumbers(t *testing.T) {
	m := newJSONMarshaler()
	b, err := m.Marshal(&backtestv1.Candle{Time: 1795165200, Open: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"time":1795165200,"open":1.5,"high":0,"low":0,"close":0,"volume":0}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, _ = m.Marshal(wrapperspb.Int64(-5))
	if string(b) != "-5" {
		t.Errorf("Int64Value: %s", b)
	}
	// The chunks of the ndjson stream are maps around messages.
	b, _ = m.Marshal(map[string]any{"result": &backtestv1.LinePoint{Time: 9, Value: 2}})
	if string(b) != `{"result":{"time":9,"value":2}}` {
		t.Errorf("stream chunk: %s", b)
	}
}

func TestMarshalStrings(t *testing.T) {
	var b strings.Builder
	for _, s := range []string{"plain", "q\"b\\", "\x00\x1f\x7f", "é\u2028", "bad\xffutf8"} {
		var buf = new(bytesBuffer)
		appendString(&buf.Buffer, s)
		var back string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Errorf("%q -> %s: %v", s, buf.Bytes(), err)
		}
		if !strings.Contains(s, "\xff") && back != s {
			t.Errorf("%q -> %s -> %q", s, buf.Bytes(), back)
		}
		b.Write(buf.Bytes())
	}
}

type bytesBuffer struct{ bytes.Buffer }
