package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// serveEvents is GET /api/jobs/{job_id}/events: StreamJobLog as Server-Sent Events.
//
// Each job event becomes
//
//	id: <seq>
//	event: log|progress|status|trace
//	data: <StreamJobLogResponse as JSON>
//
// The first event wanted is Last-Event-ID + 1 when the header is there (what a reconnecting
// EventSource sends), else the from_seq query parameter, else 1. include_trace=true adds trace
// batches. When the upstream stream ends the gateway sends `event: end` (data {"last_seq": N}) and
// closes; a stream error after the start is sent as `event: error` with the error body. A comment
// line every Options.Heartbeat keeps idle connections open. The upstream call is cancelled as soon
// as the client goes away or the gateway stops.
//
// Errors that come before the first event (unknown job, bad token) are ordinary JSON error answers
// with their HTTP status. To tell them apart from a quiet but valid stream, the handler waits until
// backtestd has sent its response headers or a first event, or for at most
// Options.SSECommitDelay, before it answers 200.
func (g *gatewayHandler) serveEvents(w http.ResponseWriter, r *http.Request, params map[string]string) {
	req, err := eventsRequest(r, params["job_id"])
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := g.streamContext(r.Context())
	defer cancel()
	ctx, err = runtime.AnnotateContext(ctx, g.mux, r, backtestv1.BacktestService_StreamJobLog_FullMethodName,
		runtime.WithHTTPPathPattern("/api/jobs/{job_id}/events"))
	if err != nil {
		writeError(w, err)
		return
	}
	stream, err := g.backtest.StreamJobLog(ctx, req)
	if err != nil {
		writeError(w, err)
		return
	}
	g.metrics.sseSubscribers.Inc()
	defer g.metrics.sseSubscribers.Dec()
	accepted, events := receiveEvents(ctx, stream)
	relay := &eventRelay{g: g, ctx: ctx, jobID: req.JobId, lastSeq: req.FromSeq - 1,
		sse: &sseWriter{w: w, rc: http.NewResponseController(w)}}
	relay.run(accepted, events)
}

// eventsRequest reads the StreamJobLog request from the query and headers: from_seq,
// include_trace, and Last-Event-ID, which takes precedence over from_seq. InvalidArgument names the
// parameter and what it wants.
func eventsRequest(r *http.Request, jobID string) (*backtestv1.StreamJobLogRequest, error) {
	req := &backtestv1.StreamJobLogRequest{JobId: jobID, FromSeq: 1}
	q := r.URL.Query()
	if v := q.Get("from_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "from_seq: want a non-negative 32-bit integer, got %q", v)
		}
		req.FromSeq = int32(n)
	}
	if v := q.Get("include_trace"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "include_trace: want true or false, got %q", v)
		}
		req.IncludeTrace = b
	}
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 || n == math.MaxInt32 {
			return nil, status.Errorf(codes.InvalidArgument, "Last-Event-ID: want the last seq seen, got %q", v)
		}
		req.FromSeq = int32(n) + 1
	}
	return req, nil
}

// streamContext is the upstream call's context: cancelled when the client goes away (parent is
// the request's context), when the gateway stops, or when the caller cancels it.
func (g *gatewayHandler) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() { // the gateway is stopping: end the stream so the server can shut down
		select {
		case <-g.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// upstreamEvent is one answer of stream.Recv: an event, or the error (io.EOF at the end) that
// ends the stream.
type upstreamEvent struct {
	ev  *backtestv1.StreamJobLogResponse
	err error
}

// receiveEvents reads the upstream stream on a goroutine of its own, until the stream ends or ctx
// is done. accepted is closed once backtestd has sent its response headers (the call is
// accepted); events carries each answer of Recv, the last one with its error, and is closed after
// it. events is unbuffered: at most one event is read ahead of the client.
func receiveEvents(ctx context.Context, stream backtestv1.BacktestService_StreamJobLogClient) (
	accepted <-chan struct{}, events <-chan upstreamEvent) {
	acceptedCh := make(chan struct{})
	eventsCh := make(chan upstreamEvent)
	go func() {
		defer close(eventsCh)
		if md, _ := stream.Header(); md != nil {
			close(acceptedCh)
		}
		for {
			ev, err := stream.Recv()
			select {
			case eventsCh <- upstreamEvent{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return acceptedCh, eventsCh
}

// eventRelay writes one upstream stream to one client as Server-Sent Events. Used by the
// request's goroutine only.
type eventRelay struct {
	g       *gatewayHandler
	ctx     context.Context // the upstream call's
	jobID   string
	sse     *sseWriter
	lastSeq int32 // of the last job event sent (from_seq - 1 before the first)
}

// run relays until the stream ends or fails, a write to the client fails, or ctx is done. The
// 200 headers go out when backtestd accepts the call, with the first event, or after
// SSECommitDelay, whichever comes first; until then an error can still be an ordinary JSON answer.
func (e *eventRelay) run(accepted <-chan struct{}, events <-chan upstreamEvent) {
	commit := time.NewTimer(e.g.opts.SSECommitDelay)
	defer commit.Stop()
	heartbeat := time.NewTicker(e.g.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-accepted:
			accepted = nil
			if e.sse.start() != nil {
				return
			}
		case <-commit.C:
			if e.sse.start() != nil {
				return
			}
		case <-heartbeat.C:
			if e.sse.started && e.sse.comment("ping") != nil {
				return
			}
		case rcv, ok := <-events:
			if !ok || !e.forward(rcv) {
				return
			}
		}
	}
}

// forward sends one answer of the upstream stream to the client; false when the stream is over
// (it ended or failed, or the client cannot be written to).
func (e *eventRelay) forward(rcv upstreamEvent) bool {
	if errors.Is(rcv.err, io.EOF) {
		e.end()
		return false
	}
	if rcv.err != nil {
		e.fail(rcv.err)
		return false
	}
	data, err := e.g.marshal.Marshal(rcv.ev)
	if err != nil {
		e.g.opts.Logger.Error("events: marshal", "job_id", e.jobID, "err", err)
		return false
	}
	if e.sse.start() != nil || e.sse.event(rcv.ev.GetSeq(), eventName(rcv.ev), data) != nil {
		return false
	}
	e.lastSeq = rcv.ev.GetSeq()
	return true
}

// end sends `event: end` with the last seq sent: the upstream stream is complete.
func (e *eventRelay) end() {
	if e.sse.start() == nil {
		_ = e.sse.event(0, "end", []byte(`{"last_seq":`+strconv.Itoa(int(e.lastSeq))+`}`))
	}
}

// fail reports an upstream error: as an ordinary JSON error answer while nothing was sent, else
// as `event: error` with the same body.
func (e *eventRelay) fail(err error) {
	if e.ctx.Err() != nil {
		return // the client left or the gateway stops; nobody to tell
	}
	if !e.sse.started {
		writeError(e.sse.w, err)
		return
	}
	st := status.Convert(err)
	data, _ := json.Marshal(newErrorBody(st, httpStatusFromCode(st.Code())))
	_ = e.sse.event(0, "error", data)
}

// eventName is the SSE event type of a job event: the name of its oneof member.
func eventName(ev *backtestv1.StreamJobLogResponse) string {
	switch ev.GetEvent().(type) {
	case *backtestv1.StreamJobLogResponse_Log:
		return "log"
	case *backtestv1.StreamJobLogResponse_Progress:
		return "progress"
	case *backtestv1.StreamJobLogResponse_Status:
		return "status"
	case *backtestv1.StreamJobLogResponse_Trace:
		return "trace"
	}
	return "message"
}

// sseWriter writes a text/event-stream answer, flushing after every event.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	buf     bytes.Buffer
}

// start sends the 200 headers once.
func (s *sseWriter) start() error {
	if s.started {
		return nil
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // reverse proxies must not buffer the stream
	s.w.WriteHeader(http.StatusOK)
	return s.write("retry: 3000\n\n")
}

// event sends one event; id 0 sends none, so Last-Event-ID keeps the last job event's seq.
func (s *sseWriter) event(id int32, name string, data []byte) error {
	s.buf.Reset()
	if id > 0 {
		s.buf.WriteString("id: ")
		s.buf.WriteString(strconv.Itoa(int(id)))
		s.buf.WriteByte('\n')
	}
	s.buf.WriteString("event: ")
	s.buf.WriteString(name)
	s.buf.WriteByte('\n')
	for _, line := range bytes.Split(data, []byte("\n")) { // JSON has no raw newlines, but be safe
		s.buf.WriteString("data: ")
		s.buf.Write(bytes.TrimSuffix(line, []byte("\r")))
		s.buf.WriteByte('\n')
	}
	s.buf.WriteByte('\n')
	return s.write(s.buf.String())
}

func (s *sseWriter) comment(text string) error { return s.write(": " + text + "\n\n") }

func (s *sseWriter) write(text string) error {
	if _, err := io.WriteString(s.w, text); err != nil {
		return err
	}
	return s.rc.Flush()
}
