package main

import (
	"strings"
	"testing"

	"github.com/stratacache/stratacache/clientsdk/clientsdktest"
)

func TestRunAgainstAFakeNode(t *testing.T) {
	srv, err := clientsdktest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out strings.Builder
	if err := run([]string{"-seed", srv.Addr()}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `get "kv block 0"`) {
		t.Fatalf("output:\n%s", out.String())
	}
}
