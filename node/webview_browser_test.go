package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
)

// BrowserEnv names a Chrome or Chromium binary for the browser test; by
// default it looks for Debian's chromium (.ci/run installs it).
const BrowserEnv = "STRATACACHE_TEST_CHROME"

func findBrowser() string {
	if p := os.Getenv(BrowserEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// The live web view in a real browser: headless Chromium opens node a's
// admin page in a three-node cluster (auth token set, sent as basic auth),
// the members table lists all three as alive, the charts draw, and the
// numbers move after writes.
func TestWebViewInBrowser(t *testing.T) {
	start := time.Now()
	browser := findBrowser()
	if browser == "" {
		t.Skipf("no Chromium found: install Debian's chromium (apt-get install chromium) or set %s to a Chrome binary; the web view's browser test is skipped", BrowserEnv)
	}
	// The admin port's rule with a token: every page and JSON request
	// carries it; the browser sends it as basic auth, as it does after a
	// user answered its prompt.
	const token = "browser-test-token"
	withToken := func(cfg Config) Config { cfg.Auth.Token, cfg.Auth.PeerToken = token, "browser-test-peer"; return cfg }
	a := startNode(t, withToken(clusterConfig("a")))
	b := startNode(t, withToken(clusterConfig("b", a.Cluster().GossipAddr())))
	c := startNode(t, withToken(clusterConfig("c", a.Cluster().GossipAddr())))
	url := "http://" + a.Addrs().Admin + "/"
	for _, path := range []string{"", "v1/stats", "static/app.js"} {
		if code, _ := httpGet(t, url+path); code != http.StatusUnauthorized {
			t.Fatalf("GET /%s without the token: %d, want 401", path, code)
		}
	}
	waitUntil(t, "three members on every node", func() bool {
		return len(a.Cluster().Members()) == 3 && len(b.Cluster().Members()) == 3 && len(c.Cluster().Members()) == 3
	})

	t.Logf("%v: three members", time.Since(start).Round(time.Millisecond))
	// Flags that work on this machine and in CI (docs/operations.md): no
	// sandbox (CI runs as root), no GPU, and none of the background
	// connections a closed network refuses.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1400, 1600),
	)
	base, cancelBase := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelBase()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()

	// Any uncaught exception in the page fails the test.
	var jsMu sync.Mutex
	var jsErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			jsMu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			jsErrors = append(jsErrors, fmt.Sprintf("%s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg))
			jsMu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+token))
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": basic}})
		return err
	}), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s in %s: %v", url, browser, err)
	}

	// pollPage evaluates js (a boolean expression) until it holds; the
	// page itself polls the node every second.
	pollPage := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if evalJS[bool](t, ctx, what, js) {
				return
			}
			if time.Now().After(deadline) {
				html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
				t.Fatalf("timed out waiting for %s; page:\n%s", what, html)
			}
			time.Sleep(50 * time.Millisecond) // polling a condition in the page
		}
	}

	t.Logf("%v: page loaded in %s", time.Since(start).Round(time.Millisecond), browser)
	// The members table: three rows, every member alive, this node marked.
	pollPage("three alive members in the table", `(() => {
		const rows = [...document.querySelectorAll('#members-table tbody tr')];
		return rows.length === 3 && rows.every(r => r.cells[1].textContent === 'alive');
	})()`)
	members := evalJS[[]string](t, ctx, "member names", `[...document.querySelectorAll('#members-table tbody tr')].map(r => r.cells[0].textContent)`)
	if strings.Join(members, ",") != "a (this node),b,c" {
		t.Errorf("members table: %q", members)
	}

	t.Logf("%v: members table", time.Since(start).Round(time.Millisecond))
	// A chart rendered: uPlot's canvas is there, sized, with at least two
	// samples, and the stores/s line's colour is drawn on it.
	pollPage("the ops chart to hold two samples", `Number(document.getElementById('chart-ops').dataset.points || 0) >= 2`)
	const seriesPixels = `(() => {
		const c = document.querySelector('#chart-ops canvas');
		if (!c || c.width === 0 || c.height === 0) return -1;
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) {
			// #b83280, the stores/s line
			if (Math.abs(d[i] - 0xb8) < 12 && Math.abs(d[i+1] - 0x32) < 12 && Math.abs(d[i+2] - 0x80) < 12 && d[i+3] > 200) n++;
		}
		return n;
	})()`
	if pixels := evalJS[int](t, ctx, "chart pixels", seriesPixels); pixels <= 0 {
		t.Fatalf("the ops chart drew no stores/s line (%d pixels of its colour)", pixels)
	}

	// Numbers change after writes: stores and loads on node a show in its
	// totals, its CPU tier's artifact count and the ops/s chart.
	readInt := func(js string) int64 {
		t.Helper()
		s := evalJS[string](t, ctx, js, js)
		n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q is not a number", js, s)
		}
		return n
	}
	t.Logf("%v: chart drawn", time.Since(start).Round(time.Millisecond))
	storesBefore := readInt(`document.getElementById('stat-stores').textContent`)
	artifactsBefore := readInt(`document.querySelector('#tiers-table tbody tr').cells[7].textContent`)
	const writes = 200
	payload := make([]byte, 16<<10)
	bg := context.Background()
	for i := 0; i < writes; i++ {
		id := artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("browser/%d", i))
		if err := a.Engine().Store(bg, id, payload, actors.StoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Engine().Load(bg, nil, id, actors.Chain()); err != nil {
			t.Fatal(err)
		}
	}
	pollPage("the totals and the CPU tier to show the writes", fmt.Sprintf(`(() => {
		const n = (s) => Number(s.replaceAll(',', ''));
		return n(document.getElementById('stat-stores').textContent) >= %d &&
			n(document.querySelector('#tiers-table tbody tr').cells[7].textContent) >= %d;
	})()`, storesBefore+writes, artifactsBefore+writes))
	pollPage("the ops and throughput charts to show the writes", `Number(document.getElementById('chart-ops').dataset.peak) > 0 &&
		Number(document.getElementById('chart-bytes').dataset.peak) > 0 && document.getElementById('stat-hitrate').textContent.endsWith('%')`)
	t.Logf("%v: numbers and charts moved after %d writes", time.Since(start).Round(time.Millisecond), writes)
	if got := readInt(`document.getElementById('stat-stores').textContent`); got < storesBefore+writes {
		t.Errorf("stores went from %d to %d after %d writes", storesBefore, got, writes)
	}
	if hitRate := evalJS[string](t, ctx, "hit rate card", `document.getElementById('stat-hitrate').textContent`); hitRate != "100.0%" {
		t.Errorf("hit rate card %q after %d loads that all hit", hitRate, writes)
	}
	jsMu.Lock()
	defer jsMu.Unlock()
	if len(jsErrors) > 0 {
		t.Fatalf("the page threw: %v", jsErrors)
	}
}

// evalJS evaluates a JavaScript expression in the page and returns its
// value.
func evalJS[T any](t *testing.T, ctx context.Context, what, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}
