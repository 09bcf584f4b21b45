// Package crashtest is the kill-and-reopen harness the persistent tiers'
// tests share: a parent test re-executes its own test binary as a child that
// stores artifacts and reports every acknowledged store on stdout, SIGKILLs
// it at a seeded moment, reopens the tier and checks that every acknowledged
// artifact is there, byte-identical, and that nothing torn is ever served.
//
// Only tests import crashtest. It may import artifact/ and tiers/.
package crashtest
