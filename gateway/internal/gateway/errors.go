package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails" // also so error details (BadRequest, …) can be written
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// errorBody is the JSON body of every error answer of the gateway:
//
//	{"error": "parameter rr: must be > 0", "code": 400, "grpc_code": "INVALID_ARGUMENT"}
//
// error is the server's message, code the HTTP status, grpc_code the gRPC status code name;
// details (google.rpc error details such as BadRequest) only when the server sent some.
type errorBody struct {
	Error    string            `json:"error"`
	Code     int               `json:"code"`
	GRPCCode string            `json:"grpc_code"`
	Details  []json.RawMessage `json:"details,omitempty"`
}

var grpcCodeNames = map[codes.Code]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

func grpcCodeName(c codes.Code) string {
	if n, ok := grpcCodeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

// httpStatusFromCode is grpc-gateway's mapping (the one Google's HTTP APIs use), kept as is:
// INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE → 400, UNAUTHENTICATED → 401,
// PERMISSION_DENIED → 403, NOT_FOUND → 404, ALREADY_EXISTS and ABORTED → 409,
// RESOURCE_EXHAUSTED → 429, CANCELLED → 499, UNIMPLEMENTED → 501, UNAVAILABLE → 503,
// DEADLINE_EXCEEDED → 504, others → 500. FAILED_PRECONDITION is not 412, which HTTP reserves for
// conditional request headers (If-Match, …); clients tell it apart by grpc_code.
func httpStatusFromCode(c codes.Code) int { return runtime.HTTPStatusFromCode(c) }

func newErrorBody(st *status.Status, httpStatus int) errorBody {
	body := errorBody{Error: st.Message(), Code: httpStatus, GRPCCode: grpcCodeName(st.Code())}
	if body.Error == "" {
		body.Error = http.StatusText(httpStatus)
	}
	for _, d := range st.Proto().GetDetails() {
		if buf, err := protojson.Marshal(d); err == nil {
			body.Details = append(body.Details, buf)
		}
	}
	return body
}

// writeError answers err as JSON: a gRPC status gets its mapped HTTP status, a
// *runtime.HTTPStatusError its own; anything else is a 500. A 429 or 503 whose status carries a
// google.rpc.RetryInfo also gets Retry-After: the delay in whole seconds, rounded up.
func writeError(w http.ResponseWriter, err error) {
	httpStatus := 0
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		httpStatus = hse.HTTPStatus
		err = hse.Err
	}
	st := status.Convert(err)
	if httpStatus == 0 {
		httpStatus = httpStatusFromCode(st.Code())
	}
	setRetryAfter(w.Header(), st, httpStatus)
	writeErrorBody(w, newErrorBody(st, httpStatus))
}

// setRetryAfter sets Retry-After on a 429 or 503 answer whose status carries a RetryInfo.
func setRetryAfter(h http.Header, st *status.Status, httpStatus int) {
	if httpStatus != http.StatusTooManyRequests && httpStatus != http.StatusServiceUnavailable {
		return
	}
	if d, ok := retryDelay(st); ok {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d), 10))
	}
}

// handleStreamError is the ServeMux's stream error handler: the generated ndjson stream
// (/api/jobs/{job_id}/log) writes the status in grpc-gateway's stream error shape, with its
// mapped HTTP status when nothing was sent yet; this adds Retry-After as writeError does.
func handleStreamError(ctx context.Context, err error) *status.Status {
	st := status.Convert(err)
	if info := requestInfoFrom(ctx); info != nil {
		setRetryAfter(info.header, st, httpStatusFromCode(st.Code()))
	}
	return st
}

// retryDelay is the delay of the status's RetryInfo detail, if it has a valid, non-negative one.
func retryDelay(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.RetryInfo)
		if !ok || info.GetRetryDelay() == nil || info.GetRetryDelay().CheckValid() != nil {
			continue
		}
		if delay := info.GetRetryDelay().AsDuration(); delay >= 0 {
			return delay, true
		}
	}
	return 0, false
}

// retryAfterSeconds is d in whole seconds, rounded up: Retry-After takes an integer, and a client
// that comes back early is refused again.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

func writeErrorBody(w http.ResponseWriter, body errorBody) {
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if body.Code == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", "Token")
	}
	buf, _ := json.Marshal(body)
	w.WriteHeader(body.Code)
	_, _ = w.Write(append(buf, '\n'))
}

// errorf answers a gateway-made error with the given gRPC code.
func errorf(w http.ResponseWriter, c codes.Code, format string, args ...any) {
	writeError(w, status.Errorf(c, format, args...))
}

// handleError is the ServeMux's error handler (runtime.WithErrorHandler).
func handleError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	writeError(w, err)
}

// handleRoutingError is the ServeMux's routing error handler: unknown paths are 404 and known
// paths with another method 405, both with the JSON error body.
func handleRoutingError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusNotFound:
		errorf(w, codes.NotFound, "no such path: %s", r.URL.Path)
	case http.StatusMethodNotAllowed:
		writeError(w, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusMethodNotAllowed,
			Err:        status.Errorf(codes.Unimplemented, "method %s not allowed on %s", r.Method, r.URL.Path),
		})
	case http.StatusBadRequest:
		errorf(w, codes.InvalidArgument, "bad request path: %s", r.URL.Path)
	default:
		writeError(w, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: status.Error(codes.Internal, http.StatusText(httpStatus))})
	}
}
