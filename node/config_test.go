package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	cfg := Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.RESP != "127.0.0.1:6380" || cfg.Listen.Native != "127.0.0.1:7380" || cfg.Listen.Admin != "127.0.0.1:9380" {
		t.Fatalf("default addresses %+v are not the documented loopback ones", cfg.Listen)
	}
}

func TestParseSeedKeysAndSections(t *testing.T) {
	cfg, err := Parse([]byte(`
use_cxl: false
writeback: false
cpu_capacity_mb: 2048
chunk_size: 512
save_partial_chunks: true
log_stats: true
log_every: 50
log_min_interval_s: 2.5
debug: true
cxl_dax_device: /dev/dax0.0
cxl_reset_metadata: true
telemetry:
  export: false
disk: {path: /var/lib/sc, capacity_mb: 0}
cluster: {join: ["10.0.0.1:7946"], gossip_key: k, bind: "0.0.0.0:7946"}
listen: {resp: "0.0.0.0:6379", native: "", admin: "127.0.0.1:0"}
insecure: true
auth: {token: secret, peer_token: nodesecret}
limits: {max_payload_mb: 32, max_connections: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CPUCapacityMB != 2048 || cfg.ChunkSize != 512 || !cfg.SavePartialChunks || cfg.LogEvery != 50 ||
		cfg.LogMinIntervalS != 2.5 || cfg.Writeback || cfg.Telemetry.Export || cfg.Listen.Native != "" ||
		cfg.Auth.Token != "secret" || cfg.Limits.MaxPayloadMB != 32 || cfg.Limits.MaxRequestMB != 256 ||
		cfg.Cluster.Join[0] != "10.0.0.1:7946" || cfg.CXLDaxDevice != "/dev/dax0.0" {
		t.Fatalf("parsed %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cfg.YAML(), "secret") {
		t.Fatal("YAML() leaks a token")
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	_, err := Parse([]byte("cpu_capacity_mb: 10\nlisten:\n  rsp: x\n"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "rsp") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("error %v should name key rsp and line 3", err)
	}
	_, err = Parse([]byte("cpu_capacity_mb: lots\n"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad type: %v", err)
	}
	if cfg, err := Parse(nil); err != nil || cfg.CPUCapacityMB != Defaults().CPUCapacityMB {
		t.Fatalf("empty document: %v", err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	cfg := Defaults()
	cfg.CPUCapacityMB = 0
	cfg.CPUPolicy = "random"
	cfg.LogEvery = -1
	cfg.Listen.Admin = "nonsense"
	cfg.Listen.Native = cfg.Listen.RESP
	cfg.TLS.Cert = "/no/such/cert"
	cfg.Limits.MaxPayloadMB = 0
	cfg.Limits.IdleTimeoutS = 0
	cfg.Disk.Durability = "maybe"
	err := cfg.Validate()
	for _, key := range []string{"disk.durability", "cpu_capacity_mb", "cpu_policy", "log_every", "listen.admin", "listen.native", "tls", "tls.cert", "limits.max_payload_mb", "limits.idle_timeout_s"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate does not report %s: %v", key, err)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"STRATACACHE_CPU_CAPACITY_MB":    "77",
		"STRATACACHE_LISTEN_RESP":        "127.0.0.1:1",
		"STRATACACHE_AUTH_TOKEN":         "tok",
		"STRATACACHE_WRITEBACK":          "false",
		"STRATACACHE_CLUSTER_JOIN":       "a:1, b:2",
		"STRATACACHE_LOG_MIN_INTERVAL_S": "0.5",
	}
	cfg := Defaults()
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if cfg.CPUCapacityMB != 77 || cfg.Listen.RESP != "127.0.0.1:1" || cfg.Auth.Token != "tok" || cfg.Writeback ||
		len(cfg.Cluster.Join) != 2 || cfg.Cluster.Join[1] != "b:2" || cfg.LogMinIntervalS != 0.5 {
		t.Fatalf("env not applied: %+v", cfg)
	}
	err := cfg.ApplyEnv(func(k string) (string, bool) {
		return "many", k == "STRATACACHE_LIMITS_MAX_CONNECTIONS"
	})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "STRATACACHE_LIMITS_MAX_CONNECTIONS") {
		t.Fatalf("bad env value: %v", err)
	}
	keys := strings.Join(EnvKeys(), " ")
	for _, k := range []string{"STRATACACHE_USE_CXL", "STRATACACHE_TELEMETRY_EXPORT", "STRATACACHE_TLS_CERT", "STRATACACHE_DISK_PATH"} {
		if !strings.Contains(keys, k) {
			t.Errorf("EnvKeys lacks %s", k)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cfg, src, err := Load(filepath.Join(dir, "absent.yaml"))
	if err != nil || src != "" || cfg.CPUCapacityMB != Defaults().CPUCapacityMB {
		t.Fatalf("absent file: %v %q", err, src)
	}
	p := filepath.Join(dir, "sc.yaml")
	if err := os.WriteFile(p, []byte("cpu_capacity_mb: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, src, err = Load(p)
	if err != nil || src != p || cfg.CPUCapacityMB != 5 {
		t.Fatalf("file: %v %q %d", err, src, cfg.CPUCapacityMB)
	}
	if err := os.WriteFile(p, []byte("cpu_capacity: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err = Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("unknown key error should name the file: %v", err)
	}
}

func TestBuildEngine(t *testing.T) {
	cfg := Defaults()
	cfg.CPUCapacityMB = 8
	cfg.Disk.CapacityMB = 0
	eng, err := BuildEngine(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if got := eng.Tiers(); len(got) != 1 || got[0] != CPUTierName {
		t.Fatalf("tiers %v", got)
	}
	cfg.UseCXL = true
	cfg.CXLPath = filepath.Join(t.TempDir(), "pool")
	cfg.CXLCapacityMB = 16
	eng2, err := BuildEngine(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := eng2.Tiers(); len(got) != 2 || got[1] != CXLTierName {
		t.Fatalf("tiers with use_cxl: %v", got)
	}
	if err := eng2.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Disk = DiskConfig{Path: filepath.Join(t.TempDir(), "data"), CapacityMB: 16, Durability: "sync"}
	eng2, err = BuildEngine(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := eng2.Tiers(); len(got) != 3 || got[2] != DiskTierName {
		t.Fatalf("tiers with use_cxl and disk: %v", got)
	}
	if _, err := os.Stat(filepath.Join(cfg.Disk.Path, DiskFileName)); err != nil {
		t.Fatalf("disk tier file: %v", err)
	}
	if err := eng2.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.UseCXL = false
	cfg.CPUPolicy = "nope"
	if _, err := BuildEngine(cfg, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad policy: %v", err)
	}
}

func TestUnknownKeyNamesNearestValidKey(t *testing.T) {
	for _, c := range []struct{ yaml, key, hint string }{
		{"listen:\n  rsp: x\n", "listen.rsp", "listen.resp"},
		{"cpu_capacity: 5\n", "cpu_capacity", "cpu_capacity_mb"},
		{"max_payload_mb: 5\n", "max_payload_mb", "limits.max_payload_mb"},
		{"limits: {max_paylod_mb: 5}\n", "limits.max_paylod_mb", "limits.max_payload_mb"},
		{"disk:\n  durabilty: sync\n", "disk.durabilty", "disk.durability"},
	} {
		_, err := Parse([]byte(c.yaml))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "unknown key "+c.key+" ") ||
			!strings.Contains(err.Error(), "did you mean "+c.hint+"?") {
			t.Errorf("%q: %v; want key %s and hint %s", c.yaml, err, c.key, c.hint)
		}
	}
	_, err := Parse([]byte("zzzzzzzzzz: 1\n"))
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a key near nothing gets no hint: %v", err)
	}
}

func TestCheckEnv(t *testing.T) {
	ok := []string{"PATH=/bin", "STRATACACHE_CPU_CAPACITY_MB=1", "STRATACACHE_CONFIG=x.yaml",
		"STRATACACHE_TEST_RUN_AS_MAIN=1", "STRATACACHE_CRASH_CYCLES=5", "STRATACACHE_BENCH_TIERS=1", "STRATACACHE_BIN=/x"}
	if err := CheckEnv(ok); err != nil {
		t.Fatal(err)
	}
	err := CheckEnv(append(ok, "STRATACACHE_LIMITS_MAX_CONECTIONS=5", "STRATACACHE_AUTH=x"))
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown variables: %v", err)
	}
	for _, want := range []string{"STRATACACHE_LIMITS_MAX_CONECTIONS is not", "did you mean STRATACACHE_LIMITS_MAX_CONNECTIONS?",
		"STRATACACHE_AUTH is not"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestDocsListEveryKey: docs/config.md's key table and Config hold the same
// keys, so every documented key is accepted and every key is documented.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, part := range strings.Split(first, "`") {
			if p := strings.TrimSpace(part); p != "" && p != "," {
				documented[p] = true
			}
		}
	}
	known := map[string]bool{}
	for _, p := range KeyPaths() {
		known[p] = true
	}
	for k := range documented {
		if !known[k] {
			t.Errorf("docs/config.md lists %s, which Config does not have", k)
			continue
		}
		// And the YAML reader accepts it (sections as a mapping).
		if _, err := Parse([]byte(docKeyYAML(k))); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("documented key %s refused: %v", k, err)
		}
	}
	for _, p := range KeyPaths() {
		sections := map[string]bool{"telemetry": true, "disk": true, "cluster": true, "listen": true, "auth": true, "tls": true, "limits": true, "kv_events": true}
		if !documented[p] && !sections[p] {
			t.Errorf("key %s is not in docs/config.md", p)
		}
	}
}

// docKeyYAML nests a dotted key as YAML with a null value.
func docKeyYAML(key string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i < len(parts)-1 {
			b.WriteString("\n")
		}
	}
	return b.String() + "\n"
}

func TestProtectedMode(t *testing.T) {
	cfg := Defaults()
	cfg.Listen.RESP = "0.0.0.0:6380"
	cfg.Listen.Admin = "[::]:9380"
	err := cfg.Validate()
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "listen.resp:") || !strings.Contains(err.Error(), "listen.admin:") ||
		strings.Contains(err.Error(), "listen.native:") {
		t.Fatalf("non-loopback without token: %v", err)
	}
	cfg.Insecure = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	cfg.Insecure = false
	cfg.Auth.Token = "t"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, "127.8.0.1:1": true,
		":1": false, "0.0.0.0:1": false, "10.0.0.1:1": false, "example.com:1": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

// The event loop is on by default; listen.disable_event_loop or its
// environment variable turns it off on both data ports; a misspelt key is
// refused naming the right one.
func TestDisableEventLoopKey(t *testing.T) {
	if Defaults().Listen.DisableEventLoop {
		t.Fatal("the event loop is off by default")
	}
	cfg, err := Parse([]byte("listen:\n  disable_event_loop: true\n"))
	if err != nil || !cfg.Listen.DisableEventLoop {
		t.Fatalf("disable_event_loop: true not applied: %v %+v", err, cfg.Listen)
	}
	if cfg.Listen.RESP != DefaultRESPAddr {
		t.Fatalf("the other listen keys lost their defaults: %+v", cfg.Listen)
	}
	_, err = Parse([]byte("listen:\n  disable_event_loops: true\n"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "listen.disable_event_loop?") {
		t.Fatalf("misspelt key: %v", err)
	}
	cfg = Defaults()
	if err := cfg.ApplyEnv(func(k string) (string, bool) { return "true", k == "STRATACACHE_LISTEN_DISABLE_EVENT_LOOP" }); err != nil ||
		!cfg.Listen.DisableEventLoop {
		t.Fatalf("STRATACACHE_LISTEN_DISABLE_EVENT_LOOP=true not applied: %v", err)
	}
	for _, off := range []bool{false, true} {
		c := testConfig()
		c.Listen.DisableEventLoop = off
		n := startNode(t, c)
		want := 1
		if off {
			want = 0
		}
		if n.resp.EventLoops() != want || n.native.EventLoops() != want {
			t.Fatalf("disable_event_loop %v: resp %d, native %d loops", off, n.resp.EventLoops(), n.native.EventLoops())
		}
	}
}
