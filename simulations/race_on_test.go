//go:build race

package simulations

// raceEnabled: the race detector slows replays about tenfold; the tests
// that replay traces run smaller slices under it.
const raceEnabled = true
