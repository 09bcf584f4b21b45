//go:build race

package clientsdk

// raceOn: sync.Pool drops items at random under -race, so allocation
// counts are not asserted.
const raceOn = true
