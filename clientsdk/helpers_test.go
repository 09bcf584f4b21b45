package clientsdk

import "github.com/stratacache/stratacache/placement"

func homeOf(hash uint64, names ...string) string { return placement.Home(hash, names) }
