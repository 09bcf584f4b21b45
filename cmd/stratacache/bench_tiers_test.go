package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestBenchTiersJSONLines(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"-json", "-size", "65536", "-set", "2", "-rounds", "1", "-duration", "20ms",
		"-dir", t.TempDir(), "-shm-dir", t.TempDir(), "-reopen-artifacts", "500",
		"-cases", "cxl_load,cxl_store,cxl_store_hashed,cxl_load_verified,disk_store,disk_load,disk_store_hashed,disk_load_verified,disk_reopen"}
	if err := runBenchTiers(args, &out, &errb); err != nil {
		t.Fatalf("%v (stderr %s)", err, errb.String())
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r tierBenchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		names[r.Name] = true
		if r.Name == "disk_reopen" {
			if r.Artifacts != 500 || r.Seconds <= 0 {
				t.Fatalf("reopen %+v", r)
			}
			continue
		}
		if r.Size != 65536 || r.GBps <= 0 || r.BaselineGBps <= 0 || r.Ratio <= 0 {
			t.Fatalf("result %+v", r)
		}
	}
	if len(names) != 9 {
		t.Fatalf("cases %v", names)
	}
	if err := runBenchTiers([]string{"-cases", "nope", "-dir", t.TempDir()}, &out, &errb); err == nil {
		t.Fatal("unknown case accepted")
	}
}

// TestBenchTiersFull runs the real benchmark when asked, until `stratacache
// bench tiers` is wired: STRATACACHE_BENCH_TIERS=1 go test -run BenchTiersFull -v.
func TestBenchTiersFull(t *testing.T) {
	if os.Getenv("STRATACACHE_BENCH_TIERS") == "" {
		t.Skip("set STRATACACHE_BENCH_TIERS=1 to run the full tier benchmark")
	}
	var out, errb bytes.Buffer
	args := []string{"-json", "-cases", "cxl_load,cxl_store,disk_store,disk_load,disk_reopen,cxl_load_verified,cxl_store_hashed,disk_load_verified,disk_store_hashed"}
	if a := os.Getenv("STRATACACHE_BENCH_TIERS_ARGS"); a != "" {
		args = strings.Fields(a)
	}
	err := runBenchTiers(args, &out, &errb)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
}
