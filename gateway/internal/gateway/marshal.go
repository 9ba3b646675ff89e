package gateway

import (
	"errors"
	"io"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
)

// jsonMarshaler is the runtime.Marshaler of the REST bridge: grpc-gateway's JSONPb, writing
// protojson's mapping with proto (snake_case) field names and every field present
// (EmitUnpopulated). Times, counts and indexes are JSON numbers because the API has no 64-bit
// integer fields, which protojson would quote (docs/api.md). Unknown fields in a
// request are an error (DiscardUnknown false), which the bridge answers with 400.
//
// Safe for concurrent use.
type jsonMarshaler struct {
	runtime.JSONPb // Marshal, NewEncoder, Unmarshal, ContentType and Delimiter come from here.
}

func newJSONMarshaler() *jsonMarshaler {
	return &jsonMarshaler{JSONPb: runtime.JSONPb{
		MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
		// No request of this API nests deeper than a few levels; a deeper one is refused here
		// (400) rather than passed on to fail in backtestd's parser.
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false, RecursionLimit: 32},
	}}
}

// errTrailingData is the decoding error of a request body with more after its JSON value.
var errTrailingData = errors.New("unexpected data after the JSON value")

// NewDecoder reads a request body with JSONPb's decoder, as exactly one JSON value: anything but
// white space after it is a decoding error (the handlers answer 400), where JSONPb would ignore
// it. An empty body decodes as io.EOF, which the generated handlers treat as "no fields".
func (m *jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	d := m.JSONPb.NewDecoder(r).(runtime.DecoderWrapper)
	return runtime.DecoderFunc(func(v any) error {
		if err := d.Decode(v); err != nil {
			return err
		}
		if _, err := d.Token(); !errors.Is(err, io.EOF) {
			return errTrailingData
		}
		return nil
	})
}
