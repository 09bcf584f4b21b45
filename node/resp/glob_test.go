package resp

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// globKeys are the keys the glob tests match against: LMCache-style keys
// with slashes, and bytes that are special in patterns.
var globKeys = []string{
	"vllm@/models/llama@1@0@abc123metadata", "vllm@/models/llama@1@0@abc123kv_bytes",
	"a/b/c", "a/bc", "abc", "ab", "a", "c", "/", "//", "a/", "/a", "*", "?", "[", "]", "[a]",
	"\\", "a\\b", "a*b", "a?b", "a-b", "^", "b^", "hello", "hallo", "hxllo", "hllo", "heeeello",
	"x/y/z.bin", "ABC", "aBc", "-", "a]b", "a[b",
}

// globCases are patterns with known Redis answers (redis-server 7.0 on
// the keys above); the random patterns of TestGlobMatchesRedis cover the
// rest against a live server.
var globCases = []struct {
	pattern string
	want    []string
}{
	{"vllm*", []string{"vllm@/models/llama@1@0@abc123kv_bytes", "vllm@/models/llama@1@0@abc123metadata"}},
	{"a/*", []string{"a/", "a/b/c", "a/bc"}},
	{"*c", []string{"a/b/c", "a/bc", "aBc", "abc", "c"}},
	{"h?llo", []string{"hallo", "hello", "hxllo"}},
	{"h[ae]llo", []string{"hallo", "hello"}},
	{"h[^e]llo", []string{"hallo", "hxllo"}},
	{"h[a-b]llo", []string{"hallo"}},
	{"h[b-a]llo", []string{"hallo"}},
	{"\\*", []string{"*"}},
	{"a\\*b", []string{"a*b"}},
	{"\\[*", []string{"[", "[a]"}},
	{"[\\]]", []string{"]"}},
	{"*\\", []string{"\\"}},
}

func sortedMatches(pattern string, keys []string) []string {
	var out []string
	for _, k := range keys {
		if globMatch([]byte(pattern), []byte(k)) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestGlobRules(t *testing.T) {
	for _, c := range globCases {
		if got := sortedMatches(c.pattern, globKeys); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q matches %q, want %q", c.pattern, got, c.want)
		}
	}
	if got := len(sortedMatches("*", globKeys)); got != len(globKeys) {
		t.Errorf("* matches %d of %d keys", got, len(globKeys))
	}
	// Exponential in a naive matcher; Redis's skip rule keeps it fast.
	long := strings.Repeat("a", 200)
	if globMatch([]byte(strings.Repeat("*a", 30)+"*b"), []byte(long)) {
		t.Error("pathological pattern matched")
	}
}

// startRedis runs redis-server on a Unix socket in a temporary directory,
// or skips the test where it is not installed.
func startRedis(t *testing.T) *bufio.ReadWriter {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (apt-get install redis-server): glob rules not compared with Redis")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var nc net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		if nc, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // waiting for a child process to bind: nothing to wait on but the socket
	}
	t.Cleanup(func() { _ = nc.Close() })
	return bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc))
}

// TestGlobMatchesRedis runs the known patterns and 3,000 random ones (over
// the bytes that mean something in a pattern) through redis-server's KEYS
// and globMatch on the same keys.
func TestGlobMatchesRedis(t *testing.T) {
	rw := startRedis(t)
	do := func(args ...string) any {
		t.Helper()
		if _, err := rw.Write(encode(toAny(args)...)); err != nil {
			t.Fatal(err)
		}
		if err := rw.Flush(); err != nil {
			t.Fatal(err)
		}
		v, err := readReply(rw.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, k := range globKeys {
		if v := do("SET", k, "1"); v != "OK" {
			t.Fatalf("SET %q: %v", k, v)
		}
	}
	redisKeys := func(pattern string) []string {
		v, ok := do("KEYS", pattern).([]any)
		if !ok {
			t.Fatalf("KEYS %q: %v", pattern, v)
		}
		out := make([]string, len(v))
		for i, k := range v {
			out[i] = string(k.([]byte))
		}
		sort.Strings(out)
		return out
	}
	patterns := []string{"*"}
	for _, c := range globCases {
		patterns = append(patterns, c.pattern)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const alphabet = "*?[]^-\\/abch"
	for range 3000 {
		b := make([]byte, 1+rng.IntN(7))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		patterns = append(patterns, string(b))
	}
	for _, p := range patterns {
		want, got := redisKeys(p), sortedMatches(p, globKeys)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pattern %q: globMatch %q, redis-server %q", p, got, want)
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// TestScanAndKeysMatch: SCAN MATCH and KEYS on the node use the same rules
// (the LMCache keys with slashes are found by "vllm*" and "*").
func TestScanAndKeysMatch(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr)
	for _, k := range globKeys {
		expect(t, c.do("SET", k, "1"), "OK")
	}
	for _, p := range []string{"vllm*", "a/*", "*c", "*", "h[^e]llo"} {
		want := sortedMatches(p, globKeys)
		var scanned []string
		cursor := "0"
		for {
			r := c.do("SCAN", cursor, "MATCH", p, "COUNT", 7).([]any)
			for _, k := range r[1].([]any) {
				scanned = append(scanned, string(k.([]byte)))
			}
			if cursor = string(r[0].([]byte)); cursor == "0" {
				break
			}
		}
		sort.Strings(scanned)
		if fmt.Sprint(scanned) != fmt.Sprint(want) {
			t.Errorf("SCAN MATCH %q: %q, want %q", p, scanned, want)
		}
		var keys []string
		for _, k := range c.do("KEYS", p).([]any) {
			keys = append(keys, string(k.([]byte)))
		}
		sort.Strings(keys)
		if fmt.Sprint(keys) != fmt.Sprint(want) {
			t.Errorf("KEYS %q: %q, want %q", p, keys, want)
		}
	}
}

// FuzzGlob: no pattern panics or runs away, and the rules hold that do not
// need Redis to state: an escaped key matches itself only as a literal,
// "*" matches everything, "*x*" is containment of a literal x.
func FuzzGlob(f *testing.F) {
	for _, c := range globCases {
		for _, k := range globKeys {
			f.Add([]byte(c.pattern), []byte(k))
		}
	}
	f.Add([]byte("[a-"), []byte("b"))
	f.Add([]byte(strings.Repeat("*a", 20)+"b"), []byte(strings.Repeat("a", 60)))
	f.Fuzz(func(t *testing.T, pattern, key []byte) {
		_ = globMatch(pattern, key)
		if len(key) == 0 {
			return // keys are never empty here (Redis's callers shortcut "*" for its empty key)
		}
		if !globMatch([]byte("*"), key) {
			t.Fatalf("* does not match %q", key)
		}
		lit := globEscape(key)
		if !globMatch(lit, key) {
			t.Fatalf("escaped %q does not match itself", key)
		}
		if len(pattern) > 0 && globMatch(lit, pattern) != (string(pattern) == string(key)) {
			t.Fatalf("literal %q vs %q", key, pattern)
		}
		if len(pattern) <= 16 {
			sub := globEscape(pattern)
			star := append(append([]byte("*"), sub...), '*')
			if globMatch(star, key) != strings.Contains(string(key), string(pattern)) {
				t.Fatalf("*%q* vs %q", pattern, key)
			}
		}
	})
}

// globEscape makes a pattern that matches exactly b.
func globEscape(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		switch c {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return out
}
