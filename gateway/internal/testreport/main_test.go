package main

import (
	"strings"
	"testing"
)

// A run as `go test -json` reports it: a passing package with a passing test, a failed subtest
// and a skipped test; a package without tests; a package whose test binary panicked.
const run = `{"Action":"start","Package":"p/a"}
{"Action":"run","Package":"p/a","Test":"TestPass"}
{"Action":"output","Package":"p/a","Test":"TestPass","Output":"=== RUN   TestPass\n"}
{"Action":"output","Package":"p/a","Test":"TestPass","Output":"    a_test.go:9: chatter of a passing test\n"}
{"Action":"output","Package":"p/a","Test":"TestPass","Output":"--- PASS: TestPass (0.00s)\n"}
{"Action":"pass","Package":"p/a","Test":"TestPass"}
{"Action":"run","Package":"p/a","Test":"TestSkip"}
{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}
{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"    a_test.go:14: no Chromium at /x\n"}
{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}
{"Action":"skip","Package":"p/a","Test":"TestSkip"}
{"Action":"run","Package":"p/a","Test":"TestOuter"}
{"Action":"output","Package":"p/a","Test":"TestOuter","Output":"=== RUN   TestOuter\n"}
{"Action":"run","Package":"p/a","Test":"TestOuter/inner"}
{"Action":"output","Package":"p/a","Test":"TestOuter/inner","Output":"=== RUN   TestOuter/inner\n"}
{"Action":"output","Package":"p/a","Test":"TestOuter/inner","Output":"    a_test.go:20: got 1, want 2\n"}
{"Action":"output","Package":"p/a","Test":"TestOuter/inner","Output":"    --- FAIL: TestOuter/inner (0.00s)\n"}
{"Action":"fail","Package":"p/a","Test":"TestOuter/inner"}
{"Action":"output","Package":"p/a","Test":"TestOuter","Output":"--- FAIL: TestOuter (0.00s)\n"}
{"Action":"fail","Package":"p/a","Test":"TestOuter"}
{"Action":"output","Package":"p/a","Output":"FAIL\n"}
{"Action":"output","Package":"p/a","Output":"FAIL\tp/a\t0.01s\n"}
{"Action":"fail","Package":"p/a"}
{"Action":"start","Package":"p/b"}
{"Action":"output","Package":"p/b","Output":"?   \tp/b\t[no test files]\n"}
{"Action":"skip","Package":"p/b"}
{"Action":"start","Package":"p/c"}
{"Action":"run","Package":"p/c","Test":"TestCrash"}
{"Action":"output","Package":"p/c","Test":"TestCrash","Output":"=== RUN   TestCrash\n"}
{"Action":"output","Package":"p/c","Test":"TestCrash","Output":"panic: boom\n"}
{"Action":"output","Package":"p/c","Output":"FAIL\tp/c\t0.01s\n"}
{"Action":"fail","Package":"p/c"}
`

func TestReportListsFailuresAndSkipsAndCountsThem(t *testing.T) {
	var out strings.Builder
	r := newReport(&out)
	if err := r.read(strings.NewReader(run)); err != nil {
		t.Fatal(err)
	}
	code := r.finish(true)
	want := `    a_test.go:20: got 1, want 2
    --- FAIL: TestOuter/inner (0.00s)
--- FAIL: TestOuter (0.00s)
FAIL
FAIL	p/a	0.01s
?   	p/b	[no test files]
FAIL	p/c	0.01s
panic: boom
gateway tests: 1 passed, 2 failed, 1 skipped; 2 package(s) failed: p/a, p/c
SKIP p/a TestSkip: a_test.go:14: no Chromium at /x
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1 (tests failed)", code)
	}
}

func TestASkipFailsTheRunUnlessAllowed(t *testing.T) {
	skipOnly := `{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"    a_test.go:14: skipped with -short\n"}
{"Action":"skip","Package":"p/a","Test":"TestSkip"}
{"Action":"pass","Package":"p/a","Test":"TestPass"}
{"Action":"output","Package":"p/a","Output":"PASS\n"}
{"Action":"output","Package":"p/a","Output":"ok  \tp/a\t0.01s\n"}
{"Action":"pass","Package":"p/a"}
`
	for _, tc := range []struct {
		allow bool
		code  int
	}{{false, 1}, {true, 0}} {
		var out strings.Builder
		r := newReport(&out)
		if err := r.read(strings.NewReader(skipOnly)); err != nil {
			t.Fatal(err)
		}
		if code := r.finish(tc.allow); code != tc.code {
			t.Errorf("allow-skip %v: exit code %d, want %d\n%s", tc.allow, code, tc.code, out.String())
		}
		if !strings.HasPrefix(out.String(), "ok  \tp/a\t0.01s\ngateway tests: 1 passed, 0 failed, 1 skipped\n"+
			"SKIP p/a TestSkip: a_test.go:14: skipped with -short\n") {
			t.Errorf("allow-skip %v: the skip is not listed with its reason:\n%s", tc.allow, out.String())
		}
	}
}

func TestLinesThatAreNotEventsPassThrough(t *testing.T) {
	var out strings.Builder
	r := newReport(&out)
	if err := r.read(strings.NewReader("go: downloading example.com/x v1.0.0\n")); err != nil {
		t.Fatal(err)
	}
	if code := r.finish(false); code != 0 || !strings.HasPrefix(out.String(), "go: downloading example.com/x v1.0.0\n") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}
}
