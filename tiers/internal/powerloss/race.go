//go:build race

package powerloss

// raceScale divides the cycles under the race detector, which slows every
// cycle down several times; the full count runs without it.
const raceScale = 5
