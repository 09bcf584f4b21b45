//go:build !race

package powerloss

const raceScale = 1
