package gateway

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// jsonMarshaler is the runtime.Marshaler of the REST bridge. It writes protojson's mapping with
// proto (snake_case) field names and every field present (EmitUnpopulated), with one deliberate
// difference: 64-bit integers are JSON numbers, not strings. The results carry epoch seconds,
// bar indexes, sequence numbers and counts, which the seed's clients and charting libraries read
// as numbers; none of them comes near 2^53. Reading accepts both forms (protojson does), and
// unknown fields are an error (DiscardUnknown false), which the bridge answers with 400.
//
// Safe for concurrent use.
type jsonMarshaler struct {
	runtime.JSONPb // Unmarshal, NewDecoder, ContentType and Delimiter come from here.
}

func newJSONMarshaler() *jsonMarshaler {
	return &jsonMarshaler{JSONPb: runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
		// No request of this API nests deeper than a few levels; a deeper one is refused here
		// (400) rather than passed on to fail in backtestd's parser.
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false, RecursionLimit: 32},
	}}
}

// Marshal encodes a proto message, or a map of them (the chunks of streaming responses), or any
// other value through JSONPb.
func (m *jsonMarshaler) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := m.encodeAny(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// NewEncoder returns an encoder that writes Marshal's output followed by the delimiter.
func (m *jsonMarshaler) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		buf, err := m.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		_, err = w.Write(m.Delimiter())
		return err
	})
}

func (m *jsonMarshaler) encodeAny(b *bytes.Buffer, v any) error {
	if v == nil {
		b.WriteString("null")
		return nil
	}
	if msg, ok := v.(proto.Message); ok {
		return m.encodeMessage(b, msg.ProtoReflect())
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			appendString(b, k)
			b.WriteByte(':')
			if err := m.encodeAny(b, rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface()); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	buf, err := m.JSONPb.Marshal(v)
	if err != nil {
		return err
	}
	b.Write(buf)
	return nil
}

// encodeMessage writes one message. Well-known types (Timestamp, Struct, Value, …) have their own
// JSON forms and go through protojson, except the 64-bit integer wrappers, which become numbers.
func (m *jsonMarshaler) encodeMessage(b *bytes.Buffer, msg protoreflect.Message) error {
	desc := msg.Descriptor()
	if desc.ParentFile().Package() == "google.protobuf" {
		switch desc.FullName() {
		case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
			m.encodeScalar(b, desc.Fields().ByName("value"), msg.Get(desc.Fields().ByName("value")))
			return nil
		}
		buf, err := m.MarshalOptions.Marshal(msg.Interface())
		if err != nil {
			return err
		}
		b.Write(buf)
		return nil
	}
	b.WriteByte('{')
	first := true
	fields := desc.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		has := msg.Has(fd)
		if fd.ContainingOneof() != nil && !has {
			continue // only the populated member of a oneof is written; unset optional fields are left out
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		appendString(b, string(fd.Name()))
		b.WriteByte(':')
		switch {
		case fd.HasPresence() && !has:
			b.WriteString("null") // an unset message field, as protojson writes it
		case fd.IsList():
			list := msg.Get(fd).List()
			b.WriteByte('[')
			for j := 0; j < list.Len(); j++ {
				if j > 0 {
					b.WriteByte(',')
				}
				if err := m.encodeSingular(b, fd, list.Get(j)); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		case fd.IsMap():
			if err := m.encodeMap(b, fd, msg.Get(fd).Map()); err != nil {
				return err
			}
		default:
			if err := m.encodeSingular(b, fd, msg.Get(fd)); err != nil {
				return err
			}
		}
	}
	b.WriteByte('}')
	return nil
}

func (m *jsonMarshaler) encodeMap(b *bytes.Buffer, fd protoreflect.FieldDescriptor, mp protoreflect.Map) error {
	type entry struct {
		key string
		val protoreflect.Value
	}
	entries := make([]entry, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, entry{k.String(), v})
		return true
	})
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	b.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		appendString(b, e.key)
		b.WriteByte(':')
		if err := m.encodeSingular(b, fd.MapValue(), e.val); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func (m *jsonMarshaler) encodeSingular(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return m.encodeMessage(b, v.Message())
	}
	m.encodeScalar(b, fd, v)
	return nil
}

func (m *jsonMarshaler) encodeScalar(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	var scratch [64]byte
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b.Write(strconv.AppendBool(scratch[:0], v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b.Write(strconv.AppendInt(scratch[:0], v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b.Write(strconv.AppendUint(scratch[:0], v.Uint(), 10))
	case protoreflect.FloatKind:
		b.Write(appendFloat(scratch[:0], v.Float(), 32))
	case protoreflect.DoubleKind:
		b.Write(appendFloat(scratch[:0], v.Float(), 64))
	case protoreflect.StringKind:
		appendString(b, v.String())
	case protoreflect.BytesKind:
		b.WriteByte('"')
		b.WriteString(base64.StdEncoding.EncodeToString(v.Bytes()))
		b.WriteByte('"')
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			if fd.Enum().FullName() == "google.protobuf.NullValue" {
				b.WriteString("null")
			} else {
				appendString(b, string(ev.Name()))
			}
		} else {
			b.Write(strconv.AppendInt(scratch[:0], int64(v.Enum()), 10))
		}
	default:
		panic(fmt.Sprintf("jsonMarshaler: unexpected kind %v of %s", fd.Kind(), fd.FullName()))
	}
}

// appendFloat writes a float the way protojson does: NaN and infinities as the strings "NaN",
// "Infinity" and "-Infinity", other values in the shortest form that reads back exactly.
func appendFloat(out []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(out, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(out, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(out, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	out = strconv.AppendFloat(out, f, format, -1, bits)
	if format == 'e' { // 1e-07 -> 1e-7, as JavaScript writes it
		if n := len(out); n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// NewDecoder reads a request body as exactly one JSON value with protojson: trailing data after
// it, or nesting past protojson's depth limit, is a decoding error (the handlers answer 400). An
// empty body decodes as io.EOF, which the generated handlers treat as "no fields".
func (m *jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return io.EOF
		}
		msg, ok := v.(proto.Message)
		if !ok {
			return m.JSONPb.Unmarshal(data, v)
		}
		return m.UnmarshalOptions.Unmarshal(data, msg)
	})
}
