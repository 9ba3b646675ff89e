package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
	req := &backtestv1.StreamJobLogRequest{JobId: params["job_id"], FromSeq: 1}
	q := r.URL.Query()
	if v := q.Get("from_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errorf(w, codes.InvalidArgument, "from_seq: want a non-negative integer, got %q", v)
			return
		}
		req.FromSeq = n
	}
	if v := q.Get("include_trace"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errorf(w, codes.InvalidArgument, "include_trace: want true or false, got %q", v)
			return
		}
		req.IncludeTrace = b
	}
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errorf(w, codes.InvalidArgument, "Last-Event-ID: want the last seq seen, got %q", v)
			return
		}
		req.FromSeq = n + 1
	}

	base, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // the gateway is stopping: end the stream so the server can shut down
		select {
		case <-g.done:
			cancel()
		case <-base.Done():
		}
	}()
	ctx, err := runtime.AnnotateContext(base, g.mux, r, backtestv1.BacktestService_StreamJobLog_FullMethodName,
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

	type received struct {
		ev  *backtestv1.StreamJobLogResponse
		err error
	}
	accepted := make(chan struct{}) // backtestd sent its headers: the call is accepted
	events := make(chan received)   // unbuffered: at most one event is read ahead of the client
	go func() {
		defer close(events)
		if md, _ := stream.Header(); md != nil {
			close(accepted)
		}
		for {
			ev, err := stream.Recv()
			select {
			case events <- received{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	sse := &sseWriter{w: w, rc: http.NewResponseController(w)}
	commit := time.NewTimer(g.opts.SSECommitDelay)
	defer commit.Stop()
	heartbeat := time.NewTicker(g.opts.Heartbeat)
	defer heartbeat.Stop()
	lastSeq := req.FromSeq - 1
	for {
		select {
		case <-ctx.Done():
			return
		case <-accepted:
			accepted = nil
			if sse.start() != nil {
				return
			}
		case <-commit.C:
			if sse.start() != nil {
				return
			}
		case <-heartbeat.C:
			if sse.started && sse.comment("ping") != nil {
				return
			}
		case rcv, ok := <-events:
			if !ok {
				return
			}
			if errors.Is(rcv.err, io.EOF) {
				if sse.start() == nil {
					_ = sse.event(0, "end", []byte(`{"last_seq":`+strconv.FormatInt(lastSeq, 10)+`}`))
				}
				return
			}
			if rcv.err != nil {
				if ctx.Err() != nil {
					return // the client left or the gateway stops; nobody to tell
				}
				if !sse.started {
					writeError(w, rcv.err)
					return
				}
				st := status.Convert(rcv.err)
				data, _ := json.Marshal(newErrorBody(st, httpStatusFromCode(st.Code())))
				_ = sse.event(0, "error", data)
				return
			}
			data, err := g.marshal.Marshal(rcv.ev)
			if err != nil {
				g.opts.Logger.Error("events: marshal", "job_id", req.JobId, "err", err)
				return
			}
			if sse.start() != nil || sse.event(rcv.ev.GetSeq(), eventName(rcv.ev), data) != nil {
				return
			}
			lastSeq = rcv.ev.GetSeq()
		}
	}
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
func (s *sseWriter) event(id int64, name string, data []byte) error {
	s.buf.Reset()
	if id > 0 {
		s.buf.WriteString("id: ")
		s.buf.WriteString(strconv.FormatInt(id, 10))
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
