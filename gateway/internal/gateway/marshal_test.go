package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// TestAPIHasNo64BitIntegers guards the API's number policy (docs/api.md): protojson writes 64-bit
// integers as JSON strings, and the REST answers have numbers where they have times, counts and
// indexes.
func TestAPIHasNo64BitIntegers(t *testing.T) {
	var check func(md protoreflect.MessageDescriptor)
	check = func(md protoreflect.MessageDescriptor) {
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			switch fd.Kind() {
			case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
				protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
				t.Errorf("%s is a 64-bit integer, a JSON string: use int32 for counts and indexes, double for times", md.Fields().Get(i).FullName())
			}
		}
		for i := 0; i < md.Messages().Len(); i++ {
			check(md.Messages().Get(i))
		}
	}
	files := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("backtest.v1", func(fd protoreflect.FileDescriptor) bool {
		files++
		for i := 0; i < fd.Messages().Len(); i++ {
			check(fd.Messages().Get(i))
		}
		return true
	})
	if files < 5 {
		t.Fatalf("found %d files of backtest.v1, want every one (5)", files)
	}
}

// TestMarshalNumbers: times, durations, counts and indexes are JSON numbers written as integers;
// NaN ratios are "NaN"; unset fields are present; what the marshaler writes reads back.
func TestMarshalNumbers(t *testing.T) {
	m := newJSONMarshaler()
	b, err := m.Marshal(&backtestv1.Candle{Time: 1795165200, Open: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, b).(map[string]any)
	want := map[string]json.Number{"time": "1795165200", "open": "1.5", "high": "0", "low": "0", "close": "0", "volume": "0"}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %#v, want the JSON number %s (%s)", k, got[k], v, b)
		}
	}

	b, _ = m.Marshal(&backtestv1.Stats{Start: 1637932200, DurationSeconds: 86400 * 365 * 90, Trades: 12, Sqn: nan(),
		LongStats: &backtestv1.SideStats{Trades: 7}})
	stats := decodeJSON(t, b).(map[string]any)
	for k, v := range map[string]any{"start": json.Number("1637932200"), "duration_seconds": json.Number("2838240000"),
		"trades": json.Number("12"), "sqn": "NaN", "end": json.Number("0"), "short_stats": nil} {
		if stats[k] != v {
			t.Errorf("stats %s: %#v, want %#v", k, stats[k], v)
		}
	}
	if lt := stats["long_stats"].(map[string]any)["trades"]; lt != json.Number("7") {
		t.Errorf("long_stats.trades %#v", lt)
	}

	// The chunks of the ndjson stream are maps around messages.
	b, _ = m.Marshal(map[string]proto.Message{"result": &backtestv1.LinePoint{Time: 9, Value: 2}})
	if string(b) != `{"result":{"time":9,"value":2}}` {
		t.Errorf("stream chunk: %s", b)
	}

	bar := int32(7)
	payload, _ := structpb.NewStruct(map[string]any{"passed": true, "reason": "ok", "n": 3, "list": []any{1, "a", nil}})
	for i, msg := range []proto.Message{
		fakebackend.Result("j1", 5, time.Hour, 0),
		&backtestv1.Job{JobId: "j", CreatedAt: timestamppb.Now(), Progress: &backtestv1.Progress{Fraction: 1e-7, BarsTotal: 1 << 30}},
		&backtestv1.ExplainResponse{BarIndex: &bar, Ts: 1637932200, Values: payload},
		&backtestv1.StreamJobLogResponse{Seq: 4, Event: &backtestv1.StreamJobLogResponse_Trace{Trace: &backtestv1.TraceBatch{Rows: []*backtestv1.TraceRow{{Seq: 1, Payload: payload}}}}},
	} {
		b, err := m.Marshal(msg)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		back := msg.ProtoReflect().New().Interface()
		if err := m.Unmarshal(b, back); err != nil || !proto.Equal(back, msg) {
			t.Errorf("%d: %s does not read back (%v)", i, b, err)
		}
	}
}

// TestDecoderTakesOneValue: a request body is one JSON value; more after it is an error, and an
// empty body is io.EOF (no fields).
func TestDecoderTakesOneValue(t *testing.T) {
	m := newJSONMarshaler()
	decode := func(body string) (*backtestv1.RunBacktestRequest, error) {
		req := &backtestv1.RunBacktestRequest{}
		return req, m.NewDecoder(strings.NewReader(body)).Decode(req)
	}
	if req, err := decode(` {"preset": "p", "params": {"rr": 2}} ` + "\n"); err != nil || req.GetPreset() != "p" || req.GetParams()["rr"].GetNumberValue() != 2 {
		t.Errorf("one value: %v %v", req, err)
	}
	for _, body := range []string{`{"preset": "p"} trailing`, `{"preset": "p"}{}`, `{"preset": "p"} }`, `{} 1`} {
		if _, err := decode(body); err == nil {
			t.Errorf("%q: no error", body)
		}
	}
	for _, body := range []string{"", " \n\t"} {
		if _, err := decode(body); !errors.Is(err, io.EOF) {
			t.Errorf("%q: %v, want io.EOF", body, err)
		}
	}
	if _, err := decode(`{"bogus": 1}`); err == nil {
		t.Error("unknown field accepted")
	}
	deep := `{"params": {"rr": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`
	if _, err := decode(deep); err == nil {
		t.Error("nesting past the recursion limit accepted")
	}
}
