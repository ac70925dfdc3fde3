package api_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/proofow/powbroker/broker/receipt"
)

// browser starts headless Chromium (Debian's chromium package) for one test; it skips
// the test when the browser is missing, except in CI where that fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := ""
	for _, name := range []string{os.Getenv("POWBROKER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("POWBROKER_CI") == "1" {
			t.Fatal("chromium is not installed; CI needs it for the status page's browser tests (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed: the status page's browser tests did not run (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err != nil {
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	return ctx
}

// artifactDir is where screenshots go: $POWBROKER_ARTIFACTS, else a directory under
// $TMPDIR that outlives the test.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("POWBROKER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "powbroker-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls a JavaScript condition for up to 30 s.
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText.slice(0, 600) : ""`))
		t.Fatalf("%s: %v (page: %q)", what, err, got)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestBrowser drives the status page in headless Chromium against a real broker:
// the overview, live progress from a share, the receipt on the token page, a block
// appearing live, and phone width.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, testConfig())
	o := e.newOrder(0)
	tip := e.broker.Tip().Height

	// Overview: the tip and the order's state, server-rendered and live.
	do(t, ctx, "open the overview", chromedp.Navigate(e.url+"/"))
	if label := evalJS[string](t, ctx, `document.querySelector("#tip-height").previousElementSibling.textContent`); label != "Tip height" {
		t.Fatalf("tip label %q", label)
	}
	waitJS(t, ctx, "tip height", fmt.Sprintf(`document.querySelector("#tip-height").textContent.trim() === "%d"`, tip))
	waitJS(t, ctx, "order state", fmt.Sprintf(`(() => { const r = document.querySelector('#recent-orders tr[data-order="%s"]'); return !!r && r.innerText.includes("working") })()`, o.id))
	waitJS(t, ctx, "orders by state", `document.querySelector('#orders-by-state tr[data-state="working"]').cells[1].textContent === "1"`)
	waitJS(t, ctx, "stream connected", `document.querySelector("#live").classList.contains("on")`)

	// The order page for the token holder: progress moves with a share, without reload.
	do(t, ctx, "open the order page", chromedp.Navigate(e.url+"/order?id="+o.id),
		chromedp.SetValue(chromedp.CSS("#order-token"), o.token), chromedp.Click(chromedp.CSS("#order-form button")))
	waitJS(t, ctx, "order shown", `!document.querySelector("#order-view").hidden && document.querySelector("#progress").getAttribute("aria-valuenow") === "0.0"`)
	waitJS(t, ctx, "stream connected", `document.querySelector("#live").classList.contains("on")`)
	if stored := evalJS[string](t, ctx, `sessionStorage.getItem("powbroker.token.`+o.id+`") || ""`); stored != o.token {
		t.Fatal("the token is not kept in the tab's sessionStorage")
	}
	evalJS[bool](t, ctx, `window.__noReload = true`)
	ns := nonces(t, o.first, 16, false)
	if _, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, ns[:4])); err != nil {
		t.Fatalf("shares: %v", err)
	}
	waitJS(t, ctx, "progress after 4 of 16 shares", `document.querySelector("#progress").getAttribute("aria-valuenow") === "25.0"`)
	if !evalJS[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded")
	}
	screenshot(t, ctx, "order-progress.png")

	// Paid: the receipt shows on the page, signed by the broker's key.
	if _, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, ns[4:])); err != nil {
		t.Fatalf("shares: %v", err)
	}
	waitJS(t, ctx, "receipt shown", `!!document.querySelector("#receipt-json") && document.querySelector("#receipt-download") !== null`)
	text := evalJS[string](t, ctx, `document.querySelector("#receipt-json").textContent`)
	r, err := receipt.Parse([]byte(text))
	if err != nil {
		t.Fatalf("receipt on the page: %v", err)
	}
	if err := receipt.Verify(r, e.broker.ReceiptPublicKey()); err != nil || r.OrderID != o.id || r.Shares != 16 || r.State != "paid" {
		t.Fatalf("receipt on the page: %v %+v", err, r)
	}
	if !evalJS[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded")
	}
	screenshot(t, ctx, "order-receipt.png")

	// Blocks page: a block found while it is open appears without reload.
	do(t, ctx, "open the blocks page", chromedp.Navigate(e.url+"/blocks"))
	waitJS(t, ctx, "stream connected", `document.querySelector("#live").classList.contains("on")`)
	evalJS[bool](t, ctx, `window.__noReload = true`)
	o2 := e.newOrder(0)
	res, err := e.client.SubmitShares(e.ctx(), o2.id, o2.token, shares(o2.first, nonces(t, o2.first, 1, true)))
	if err != nil || !res.Results[0].BlockAccepted {
		t.Fatalf("block share: %v %+v", err, res)
	}
	hash := res.Results[0].Hash
	waitJS(t, ctx, "block row", fmt.Sprintf(`(() => { const r = document.querySelector('#blocks tr[data-block="%s"]'); return !!r && r.innerText.includes("accepted") && r.innerText.includes("%d") })()`, hash, tip+1))
	if !evalJS[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded")
	}
	screenshot(t, ctx, "blocks.png")

	// Overview again, for the README's screenshot.
	do(t, ctx, "open the overview", chromedp.Navigate(e.url+"/"))
	waitJS(t, ctx, "tip after the block", fmt.Sprintf(`document.querySelector("#tip-height").textContent.trim() === "%d"`, tip+1))
	waitJS(t, ctx, "charts drawn", `!!document.querySelector("#chart-hashrate svg") && !!document.querySelector("#chart-shares svg")`)
	screenshot(t, ctx, "overview.png")
	if dst := os.Getenv("POWBROKER_README_SCREENSHOT"); dst != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README screenshot written to %s", dst)
	}

	// Phone width: no page scrolls sideways.
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []string{"/", "/orders", "/order?id=" + o.id, "/workers", "/blocks"} {
		do(t, ctx, "open "+p, chromedp.Navigate(e.url+p))
		waitJS(t, ctx, "loaded "+p, `document.readyState === "complete"`)
		if p == "/order?id="+o.id {
			waitJS(t, ctx, "order view at 390 px", `!!document.querySelector("#receipt-json")`)
		}
		if p == "/" {
			waitJS(t, ctx, "charts at 390 px", `!!document.querySelector("#chart-hashrate svg")`)
		}
		w := evalJS[[]int](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`)
		if w[1] != 390 || w[0] > w[1] {
			t.Fatalf("%s at 390 px: scroll width %d, viewport %d", p, w[0], w[1])
		}
		name := strings.NewReplacer("/", "", "?", "-", "=", "-").Replace(p)
		if name == "" {
			name = "overview"
		}
		screenshot(t, ctx, "phone-"+name+".png")
	}
}
