// Package clientsdktest holds an in-memory fake node speaking the native
// protocol (and the two peer ops clientsdk uses), with fault injection, so
// that clientsdk's tests and its users' tests run without a real node.
//
// It imports messages/ and messages/frame only; never node/ or cluster/.
package clientsdktest
