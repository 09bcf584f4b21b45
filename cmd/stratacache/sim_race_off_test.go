//go:build !race

package main

const simRace = false
