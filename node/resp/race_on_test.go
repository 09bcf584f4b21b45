//go:build race

package resp

// raceEnabled: the race detector slows the hand-off test about tenfold; it
// runs fewer connections under it.
const raceEnabled = true
