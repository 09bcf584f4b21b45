//go:build race

package main

// simRace: the race detector slows replays about tenfold; the suite test
// checks fewer sections under it.
const simRace = true
