//go:build !race

package clientsdk

const raceOn = false
