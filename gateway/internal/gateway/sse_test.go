package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// openEvents opens the SSE endpoint and checks the answer is an event stream.
func (g *testGateway) openEvents(ctx context.Context, path string, header http.Header) (*sseReader, func()) {
	g.t.Helper()
	req := g.request("GET", path, "", header).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		g.t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &sseReader{bufio.NewReader(resp.Body)}, func() { resp.Body.Close() }
}

// readAll reads events until `end`, returning "id:event" strings and checking each data payload.
func readAll(t *testing.T, r *sseReader) []string {
	t.Helper()
	var got []string
	for {
		ev, err := r.nextEvent()
		if err != nil {
			t.Fatalf("stream ended without `end` after %v: %v", got, err)
		}
		if ev.event == "end" {
			return got
		}
		var data struct {
			Seq  json.Number    `json:"seq"`
			Time string         `json:"time"`
			Rest map[string]any `json:"-"`
		}
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			t.Fatalf("data of event %s is not JSON: %v: %s", ev.id, err, ev.data)
		}
		if string(data.Seq) != ev.id || data.Time == "" {
			t.Errorf("event id %s carries seq %s, time %q", ev.id, data.Seq, data.Time)
		}
		if !strings.Contains(ev.data, `"`+ev.event+`":{`) {
			t.Errorf("event %s of type %s has data %s", ev.id, ev.event, ev.data)
		}
		got = append(got, ev.id+":"+ev.event)
	}
}

const allEvents = "1:status 2:status 3:log 4:progress 5:log 7:progress 8:status"

func TestEventsWholeHistory(t *testing.T) {
	g := newTestGateway(t)
	r, closeFn := g.openEvents(context.Background(), "/api/jobs/job-done/events", nil)
	defer closeFn()
	if got := strings.Join(readAll(t, r), " "); got != allEvents {
		t.Errorf("events %s\nwant   %s", got, allEvents)
	}
}

func TestEventsIncludeTrace(t *testing.T) {
	g := newTestGateway(t)
	r, closeFn := g.openEvents(context.Background(), "/api/jobs/job-done/events/?include_trace=true&from_seq=5", nil)
	defer closeFn()
	if got := strings.Join(readAll(t, r), " "); got != "5:log 6:trace 7:progress 8:status" {
		t.Errorf("events %s", got)
	}
}

// TestEventsResume checks that a reconnecting subscriber gets exactly the events it missed.
func TestEventsResume(t *testing.T) {
	g := newTestGateway(t)
	cases := []struct {
		name, query, lastEventID, want string
	}{
		{"Last-Event-ID", "", "3", "4:progress 5:log 7:progress 8:status"},
		{"from_seq", "?from_seq=5", "", "5:log 7:progress 8:status"},
		{"Last-Event-ID wins over from_seq", "?from_seq=2", "7", "8:status"},
		{"from_seq 0 is the whole history", "?from_seq=0", "", allEvents},
		{"nothing missed", "", "8", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h http.Header
			if c.lastEventID != "" {
				h = http.Header{"Last-Event-Id": {c.lastEventID}}
			}
			r, closeFn := g.openEvents(context.Background(), "/api/jobs/job-done/events"+c.query, h)
			defer closeFn()
			if got := strings.Join(readAll(t, r), " "); got != c.want {
				t.Errorf("events %q, want %q", got, c.want)
			}
		})
	}
}

func TestEventsEndCarriesLastSeq(t *testing.T) {
	g := newTestGateway(t)
	r, closeFn := g.openEvents(context.Background(), "/api/jobs/job-done/events", nil)
	defer closeFn()
	for {
		ev, err := r.nextEvent()
		if err != nil {
			t.Fatal(err)
		}
		if ev.event == "end" {
			if ev.id != "" || ev.data != `{"last_seq":8}` {
				t.Errorf("end event id %q data %s", ev.id, ev.data)
			}
			if _, err := r.next(); err != io.EOF {
				t.Errorf("stream goes on after end: %v", err)
			}
			return
		}
	}
}

// TestEventsLive follows a running job: history, then live events as they happen, heartbeats
// while it is quiet, and the end when it finishes.
func TestEventsLive(t *testing.T) {
	g := startGateway(t, startFake(t), Options{Heartbeat: 20 * time.Millisecond})
	r, closeFn := g.openEvents(context.Background(), "/api/jobs/job-live/events", nil)
	defer closeFn()
	for _, want := range []string{"1:status", "2:status", "3:log"} {
		ev, err := r.nextEvent()
		if err != nil || ev.id+":"+ev.event != want {
			t.Fatalf("got %+v %v, want %s", ev, err, want)
		}
	}
	for { // quiet: heartbeats keep the connection open
		ev, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.comment == "ping" {
			break
		}
	}
	g.fake.AppendLog("job-live", "bar 11 of 100")
	for {
		ev, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.comment != "" {
			continue
		}
		if ev.id != "4" || ev.event != "log" || !strings.Contains(ev.data, "bar 11 of 100") {
			t.Fatalf("live event %+v", ev)
		}
		break
	}
	g.fake.Finish("job-live")
	var rest []string
	for {
		ev, err := r.nextEvent()
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, ev.id+":"+ev.event)
		if ev.event == "end" {
			break
		}
	}
	if got := strings.Join(rest, " "); got != "5:status :end" {
		t.Errorf("after finish: %s", got)
	}
}

// TestEventsClientLeaves checks that the upstream call ends when the subscriber goes away.
func TestEventsClientLeaves(t *testing.T) {
	g := newTestGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, closeFn := g.openEvents(ctx, "/api/jobs/job-live/events", nil)
	defer closeFn()
	if _, err := r.nextEvent(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upstream stream to open", func() bool { return g.fake.StreamsOpen() == 1 })
	cancel()
	waitFor(t, "the upstream stream to end", func() bool { return g.fake.StreamsOpen() == 0 })
}

// TestEventsGatewayStops checks that open streams end when the gateway stops, so that
// http.Server.Shutdown is not held up by them.
func TestEventsGatewayStops(t *testing.T) {
	g := newTestGateway(t)
	r, closeFn := g.openEvents(context.Background(), "/api/jobs/job-live/events", nil)
	defer closeFn()
	if _, err := r.nextEvent(); err != nil {
		t.Fatal(err)
	}
	g.cancel()
	for {
		if _, err := r.next(); err != nil {
			break // the stream closed (without `end`: clients reconnect to the next gateway)
		}
	}
	waitFor(t, "the upstream stream to end", func() bool { return g.fake.StreamsOpen() == 0 })
}

func TestEventsErrorsBeforeTheStream(t *testing.T) {
	g := newTestGateway(t)
	cases := []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/api/jobs/nope/events", nil, 404},
		{"/api/jobs/job-done/events/", http.Header{"Authorization": {"Token wrong"}}, 401},
	}
	for _, c := range cases {
		a := g.do("GET", c.path, "", c.header)
		if a.status != c.want || a.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s %s", c.path, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
}

// TestEventsManySubscribers checks that subscribers of one job are independent.
func TestEventsManySubscribers(t *testing.T) {
	g := newTestGateway(t)
	const n = 5
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			req := g.request("GET", fmt.Sprintf("/api/jobs/job-done/events?from_seq=%d", i+1), "", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			r := &sseReader{bufio.NewReader(resp.Body)}
			first, err := r.nextEvent()
			if err != nil || first.id != fmt.Sprint(i+1) {
				errs <- fmt.Errorf("subscriber %d: first event %+v %v", i, first, err)
				return
			}
			errs <- nil
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
