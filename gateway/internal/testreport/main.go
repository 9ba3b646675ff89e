// Command testreport reads the events of `go test -json` on stdin and writes what go test writes
// without -v (package results, build errors, and the output of failed tests), then every skipped
// test with its reason and one summary line:
//
//	gateway tests: 131 passed, 0 failed, 1 skipped
//	SKIP backtestd/gateway/internal/gateway TestDashboardInBrowser: browser_test.go:25: …
//
// It exits 1 when a test or a package failed, and when a test was skipped unless -allow-skip is
// given: gateway/test.sh allows skips only when they were asked for (-short). Used by
// gateway/test.sh only.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	allowSkip := flag.Bool("allow-skip", false, "a skipped test is listed but does not fail the run")
	flag.Parse()
	r := newReport(os.Stdout)
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	os.Exit(r.finish(*allowSkip))
}

// event is one line of `go test -json` (cmd/test2json; build events carry ImportPath).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

type testKey struct{ pkg, test string }

type skipped struct{ pkg, test, reason string }

// report collects the events of one go test run. Not safe for concurrent use.
type report struct {
	out            io.Writer
	pending        map[testKey][]string // output of tests that have no result yet
	passed, failed int
	skips          []skipped
	failedPackages []string
}

func newReport(out io.Writer) *report {
	return &report{out: out, pending: map[testKey][]string{}}
}

// read consumes the event stream; a line that is not an event is written through as it is.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Action == "" {
			fmt.Fprintln(r.out, sc.Text())
			continue
		}
		r.add(ev)
	}
	return sc.Err()
}

func (r *report) add(ev event) {
	if ev.Test == "" {
		r.addPackage(ev)
		return
	}
	key := testKey{ev.Package, ev.Test}
	switch ev.Action {
	case "output":
		r.pending[key] = append(r.pending[key], ev.Output)
	case "pass":
		r.passed++
		delete(r.pending, key)
	case "fail":
		r.failed++
		r.writeOutput(r.pending[key])
		delete(r.pending, key)
	case "skip":
		r.skips = append(r.skips, skipped{ev.Package, ev.Test, skipReason(r.pending[key])})
		delete(r.pending, key)
	}
}

// addPackage writes a package's own output (its "ok", "FAIL" or "?" line, a panic, a vet
// message) and build output as they come.
func (r *report) addPackage(ev event) {
	switch ev.Action {
	case "output", "build-output":
		if ev.Output != "PASS\n" { // -json runs tests verbosely; go test alone does not say PASS
			fmt.Fprint(r.out, ev.Output)
		}
	case "fail":
		r.failedPackages = append(r.failedPackages, ev.Package)
		// Tests still running when their package failed (a panic, the timeout) have no result.
		var unfinished []testKey
		for key := range r.pending {
			if key.pkg == ev.Package {
				unfinished = append(unfinished, key)
			}
		}
		sort.Slice(unfinished, func(i, j int) bool { return unfinished[i].test < unfinished[j].test })
		for _, key := range unfinished {
			r.writeOutput(r.pending[key])
			delete(r.pending, key)
		}
	}
}

// writeOutput writes a test's output without go test -v's progress lines (=== RUN and the like).
func (r *report) writeOutput(lines []string) {
	for _, line := range lines {
		if !strings.HasPrefix(line, "=== ") {
			fmt.Fprint(r.out, line)
		}
	}
}

// skipReason is what the test logged (its t.Skip message among it), on one line.
func skipReason(lines []string) string {
	var parts []string
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "=== ") || strings.HasPrefix(line, "--- SKIP") {
			continue
		}
		parts = append(parts, line)
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

// finish writes the summary and the skips and returns the exit code.
func (r *report) finish(allowSkip bool) int {
	summary := fmt.Sprintf("gateway tests: %d passed, %d failed, %d skipped", r.passed, r.failed,
		len(r.skips))
	if n := len(r.failedPackages); n > 0 {
		summary += fmt.Sprintf("; %d package(s) failed: %s", n, strings.Join(r.failedPackages, ", "))
	}
	fmt.Fprintln(r.out, summary)
	for _, s := range r.skips {
		fmt.Fprintf(r.out, "SKIP %s %s: %s\n", s.pkg, s.test, s.reason)
	}
	switch {
	case r.failed > 0 || len(r.failedPackages) > 0:
		return 1
	case len(r.skips) > 0 && !allowSkip:
		fmt.Fprintln(r.out, "FAIL: a test skipped; nothing may skip unless asked for (-short)")
		return 1
	}
	return 0
}
