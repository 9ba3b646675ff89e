package gateway

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"backtestd/gateway/internal/fakebackend"
	"backtestd/gateway/internal/gen/web"
)

// TestDashboardInBrowser runs web/e2e/dashboard.mjs (playwright-core driving headless Chromium)
// against the gateway with the embedded dashboard in front of the fake backend, including the
// 1M-bar job. Screenshots go to build/screenshots/dashboard-fake (or $BACKTEST_SCREENSHOT_DIR).
// Skipped only with -short, where gateway/test.sh lists it as skipped. Without node, Chromium
// (scripts/install-deps.sh installs both), playwright-core or the embedded dashboard (gateway/build.sh
// gen makes both) it fails: a browser test that cannot run has not passed.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	_, file, _, _ := runtime.Caller(0)
	gatewayDir := filepath.Join(filepath.Dir(file), "..", "..")
	script := filepath.Join(gatewayDir, "web", "e2e", "dashboard.mjs")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found (scripts/install-deps.sh installs it)")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no Chromium at %s (scripts/install-deps.sh installs it)", chromium)
	}
	if _, err := os.Stat(filepath.Join(gatewayDir, "web", "node_modules", "playwright-core")); err != nil {
		t.Fatal("playwright-core not installed (gateway/build.sh gen installs it)")
	}
	outDir := os.Getenv("BACKTEST_SCREENSHOT_DIR")
	if outDir == "" {
		outDir = filepath.Join(gatewayDir, "..", "build", "screenshots", "dashboard-fake")
	}

	fake, err := fakebackend.Start(fakebackend.Config{AutoRun: true, RunTime: 2 * time.Second, Bars: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	dist, err := fs.Sub(web.Dist, "dist") // the dashboard embedded in the binary
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, fake, Options{Static: dist, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if a := g.do("GET", "/static/job.js", "", nil); a.status != 200 {
		t.Fatal("the embedded dashboard is not built (run gateway/build.sh gen)")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = filepath.Join(gatewayDir, "web")
	cmd.Env = append(os.Environ(),
		"BASE_URL="+g.srv.URL, "TOKEN=user-token", "OUT_DIR="+outDir, "CHROMIUM="+chromium,
		"BIG_JOB=job-big", "TIMEOUT_S=60")
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
}
