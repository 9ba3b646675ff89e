package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"backtestd/gateway/internal/fakebackend"
)

// TestRunServesAndShutsDown runs the whole gateway as main does and stops it the way a signal
// does (ctx done) while an event stream is open: Run must return promptly and cleanly.
func TestRunServesAndShutsDown(t *testing.T) {
	fake := startFake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Listener: ln, Backend: fake.Addr(), Static: testStatic,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, "/healthz to answer 200", func() bool {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	req, _ := http.NewRequest("GET", base+"/api/jobs/job-live/events/", nil)
	req.Header.Set("Authorization", fakebackend.UserToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &sseReader{bufio.NewReader(resp.Body)}
	if ev, err := r.nextEvent(); err != nil || ev.id != "1" {
		t.Fatalf("first event %+v %v", ev, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was done")
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
	waitFor(t, "the upstream stream to end", func() bool { return fake.StreamsOpen() == 0 })
}

func TestRunBadListenAddress(t *testing.T) {
	err := Run(context.Background(), Options{Listen: "127.0.0.1:notaport", Static: testStatic,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Fatal("Run with a bad listen address returned nil")
	}
}
