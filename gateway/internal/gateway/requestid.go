package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
)

// requestIDHeader is the HTTP header, and requestIDKey the gRPC metadata key, that carry a
// request's id: taken from the client when well-formed, else made here; sent back in the answer
// and to backtestd on every call made for the request.
const (
	requestIDHeader = "X-Request-Id"
	requestIDKey    = "x-request-id"
)

// maxRequestIDBytes bounds a request id taken from a client.
const maxRequestIDBytes = 128

// requestInfo is what the gateway learns about one request while serving it: its id and the
// path pattern of the route that served it. Made by Handler.ServeHTTP, filled in by the request's
// own goroutine (the route middleware), read by Handler.ServeHTTP after the route returns.
type requestInfo struct {
	id     string
	route  string
	header http.Header // the answer's, for code that gets only the context (handleStreamError)
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// requestIDFrom is the id of the request ctx belongs to ("" outside a request).
func requestIDFrom(ctx context.Context) string {
	if info := requestInfoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// setRoute records the path pattern that serves the request ctx belongs to.
func setRoute(ctx context.Context, route string) {
	if info := requestInfoFrom(ctx); info != nil {
		info.route = route
	}
}

// recordRoute is the mux's middleware: it records the matched route's path pattern (e.g.
// "/api/jobs/{job_id}"), never the path itself, so the metrics' route label stays bounded.
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if pattern, ok := runtime.HTTPPattern(r.Context()); ok {
			setRoute(r.Context(), routeName(pattern.String()))
		}
		next(w, r, params)
	}
}

// singleSegment is a capture of one path segment in a compiled pattern's String ("{job_id=*}").
var singleSegment = regexp.MustCompile(`\{([^{}=]+)=\*\}`)

// routeName is a compiled pattern as the route was written: "/api/jobs/{job_id=*}" is
// "/api/jobs/{job_id}" (as in backtest_http.yaml and the OpenAPI paths); "{path=**}" stays.
func routeName(pattern string) string { return singleSegment.ReplaceAllString(pattern, "{$1}") }

// requestID is the client's id when it is well-formed (1 to maxRequestIDBytes letters, digits,
// '-', '_', '.' or ':'), else a new one: 32 hex digits of crypto/rand, nginx's $request_id form.
func requestID(fromClient string) string {
	if validRequestID(fromClient) {
		return fromClient
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// requestIDMetadata is the mux's metadata annotator: every upstream call made for a request
// carries the request's id.
func requestIDMetadata(ctx context.Context, _ *http.Request) metadata.MD {
	if id := requestIDFrom(ctx); id != "" {
		return metadata.Pairs(requestIDKey, id)
	}
	return nil
}

// withRequestIDOutgoing adds the request's id to the outgoing metadata of a call the gateway
// makes itself (health checks; the generated handlers and the events stream get it through
// requestIDMetadata).
func withRequestIDOutgoing(ctx context.Context) context.Context {
	if id := requestIDFrom(ctx); id != "" {
		return metadata.AppendToOutgoingContext(ctx, requestIDKey, id)
	}
	return ctx
}

// incomingHeader is the mux's incoming header matcher: grpc-gateway's default (permanent HTTP
// headers as grpcgateway-*, Grpc-Metadata-* without the prefix), except that a client cannot set
// x-request-id itself through Grpc-Metadata-X-Request-Id: the id sent upstream is the one
// requestIDMetadata adds, the same as in the answer and the access log.
func incomingHeader(key string) (string, bool) {
	if strings.EqualFold(key, runtime.MetadataHeaderPrefix+requestIDHeader) {
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}
