package clientsdk

import "github.com/stratacache/stratacache/cluster"

func homeOf(hash uint64, names ...string) string { return cluster.Home(hash, names) }
