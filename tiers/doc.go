// Package tiers holds the storage media of StrataCache as plain Go types: the
// Tier interface every medium satisfies, zero-copy read views, byte-budget
// statistics and the sentinel errors tiers return. The media themselves live
// in sub-packages (memory/, and later cxl/ and disk/), and eviction policies
// in eviction/.
//
// tiers knows nothing of actors or the network: it may import artifact/,
// messages/ and its own sub-packages, never actors/, cluster/, node/ or
// clientsdk/.
package tiers
