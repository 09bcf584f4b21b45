package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
)

// runAsMainEnv makes the test binary behave as the stratacache binary, so
// multi-process tests run the real `serve` without building it first.
const runAsMainEnv = "STRATACACHE_TEST_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMainEnv) == "1" {
		if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "stratacache:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
