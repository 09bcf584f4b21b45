package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/native"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/eviction"
	"github.com/stratacache/stratacache/tiers/memory"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// testConfig is a small node on loopback port 0.
func testConfig() Config {
	cfg := Defaults()
	cfg.CPUCapacityMB = 128
	cfg.Listen = ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Disk.CapacityMB = 0 // tests that want the disk tier give it a temporary directory
	return cfg
}

func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// respDo sends one command as a RESP array and returns the raw reply line
// (and the bulk body for a bulk reply).
func respDo(t testing.TB, rw *bufio.ReadWriter, args ...string) string {
	t.Helper()
	fmt.Fprintf(rw, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(rw, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	line, err := rw.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line[0] == '$' && line != "$-1" {
		var n int
		fmt.Sscanf(line[1:], "%d", &n)
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rw, b); err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	return line
}

func dialRESP(t testing.TB, addr string) *bufio.ReadWriter {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc))
}

func TestNodeServesAllPortsAndAdmin(t *testing.T) {
	n := startNode(t, testConfig())
	a := n.Addrs()
	rw := dialRESP(t, a.RESP)
	if got := respDo(t, rw, "SET", "k", "v"); got != "+OK" {
		t.Fatal(got)
	}
	if got := respDo(t, rw, "GET", "k"); got != "v" {
		t.Fatal(got)
	}
	respDo(t, rw, "GET", "missing")
	c, err := native.Dial(context.Background(), a.Native, native.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The RESP key is the blob-namespace artifact: visible natively too.
	v, _, err := c.Get(context.Background(), nil, artifact.MustID(artifact.NamespaceBlob, "k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("native view of a RESP key: %q %v", v, err)
	}
	base := "http://" + a.Admin
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	code, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`stratacache_tier_hits_total{kind="memory",tier="cpu"} 2`,
		`stratacache_tier_used_bytes{kind="memory",tier="cpu"}`,
		`stratacache_request_duration_seconds_bucket{op="GET",protocol="resp"`,
		`stratacache_request_duration_seconds_count{op="GET",protocol="native"} 1`,
		`stratacache_connections{protocol="resp"} 1`,
		`stratacache_misses_total{protocol="resp"} 1`,
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := httpGet(t, base+"/stats.txt"); code != 200 || !strings.Contains(body, "cpu") || !strings.Contains(body, "resp 127.0.0.1") {
		t.Fatalf("stats page %d:\n%s", code, body)
	}
	if code, body := httpGet(t, base+"/v1/stats"); code != 200 || !strings.Contains(body, `"protocol":"resp","addr":"`+a.RESP+`","connections":1`) {
		t.Fatalf("/v1/stats %d:\n%s", code, body)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/"); code != 404 {
		t.Fatalf("pprof is served without telemetry.pprof: %d", code)
	}
	if code, _ := httpGet(t, base+"/nope"); code != 404 {
		t.Fatalf("unknown path %d", code)
	}
}

// TestShutdownDrainsWriteBack stores through RESP into a write-back chain
// (CPU tier over a fake lower tier) and checks that Shutdown flushed every
// value below before returning.
func TestShutdownDrainsWriteBack(t *testing.T) {
	top, err := memory.New(memory.Config{Name: "cpu", CapacityBytes: 64 << 20, Policy: eviction.NewLRU(1024)})
	if err != nil {
		t.Fatal(err)
	}
	lower := tiertest.New("disk", 256<<20)
	link := actors.DefaultLinkConfig()
	link.FlushInterval = time.Hour // only the shutdown drain flushes
	link.FlushBatchBytes = 1 << 40
	eng, err := actors.NewEngine(actors.Config{Tiers: []tiers.Tier{top, lower}, Links: []actors.LinkConfig{link}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewWithEngine(testConfig(), eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	rw := dialRESP(t, n.Addrs().RESP)
	for i := range 20 {
		if got := respDo(t, rw, "SET", fmt.Sprintf("wb%d", i), strings.Repeat("x", 1000+i)); got != "+OK" {
			t.Fatal(got)
		}
	}
	if lower.PutCount() != 0 {
		t.Fatalf("lower tier written before the drain (%d puts)", lower.PutCount())
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("wb%d", i))
		if !lower.Holds(id, []byte(strings.Repeat("x", 1000+i))) {
			t.Fatalf("wb%d not drained to the lower tier", i)
		}
	}
	if _, err := net.Dial("tcp", n.Addrs().RESP); err == nil {
		t.Fatal("RESP port still open after shutdown")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1.
func writeCert(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stratacache-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSAndAuthOnBothPorts(t *testing.T) {
	cfg := testConfig()
	var pool *x509.CertPool
	cfg.TLS.Cert, cfg.TLS.Key, pool = writeCert(t)
	cfg.Auth.Token = "t0ken"
	n := startNode(t, cfg)
	a := n.Addrs()
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}

	nc, err := tls.Dial("tcp", a.RESP, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rw := bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc))
	if got := respDo(t, rw, "GET", "k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("unauthenticated GET: %s", got)
	}
	if got := respDo(t, rw, "AUTH", "t0ken"); got != "+OK" {
		t.Fatal(got)
	}
	if got := respDo(t, rw, "SET", "k", "tls"); got != "+OK" {
		t.Fatal(got)
	}
	// Plain TCP against a TLS port gets no service.
	plain := dialRESP(t, a.RESP)
	fmt.Fprintf(plain, "*1\r\n$4\r\nPING\r\n")
	_ = plain.Flush()
	if line, err := plain.ReadString('\n'); err == nil && strings.Contains(line, "PONG") {
		t.Fatal("plain-text client served on the TLS port")
	}

	ctx := context.Background()
	if _, err := native.Dial(ctx, a.Native, native.DialOptions{TLS: tc, Token: "wrong"}); err == nil {
		t.Fatal("native dial with a wrong token succeeded")
	}
	c, err := native.Dial(ctx, a.Native, native.DialOptions{TLS: tc, Token: "t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, _, err := c.Get(ctx, nil, artifact.MustID(artifact.NamespaceBlob, "k"))
	if err != nil || string(v) != "tls" {
		t.Fatalf("native over TLS: %q %v", v, err)
	}
	if !bytes.Equal(v, []byte("tls")) {
		t.Fatal("value differs")
	}
}

// TestShutdownDrainsIntoPersistentTiers runs the real chains (CPU over a
// CXL pool file, CPU over the disk tier; write-back): values SET over RESP
// are below after Shutdown, and a node started on the same files serves
// them.
func TestShutdownDrainsIntoPersistentTiers(t *testing.T) {
	t.Run("cxl", func(t *testing.T) {
		cfg := testConfig()
		cfg.UseCXL = true
		cfg.CXLPath = filepath.Join(t.TempDir(), "cxl.pool")
		cfg.CXLCapacityMB = 32
		drainAndRestart(t, cfg)
	})
	t.Run("disk", func(t *testing.T) {
		cfg := testConfig()
		cfg.Disk = DiskConfig{Path: t.TempDir(), CapacityMB: 32, Durability: "none"}
		drainAndRestart(t, cfg)
	})
}

func drainAndRestart(t *testing.T, cfg Config) {
	cfg.Writeback = true
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	rw := dialRESP(t, n.Addrs().RESP)
	for i := range 10 {
		if got := respDo(t, rw, "SET", fmt.Sprintf("p%d", i), strings.Repeat("v", 5000+i)); got != "+OK" {
			t.Fatal(got)
		}
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, cfg)
	c, err := native.Dial(context.Background(), n2.Addrs().Native, native.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 10 {
		v, _, err := c.Get(context.Background(), nil, artifact.MustID(artifact.NamespaceBlob, fmt.Sprintf("p%d", i)))
		if err != nil || string(v) != strings.Repeat("v", 5000+i) {
			t.Fatalf("p%d after restart: %d bytes, %v", i, len(v), err)
		}
	}
}
