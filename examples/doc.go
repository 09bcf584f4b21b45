// Package examples holds programs and tests that show clientsdk at work
// against real StrataCache parts: scheduler/ (a trace-replaying request
// router comparing routing policies), embedded/ (clientsdk's embedded mode
// over a real actors.Engine), getbench/ (SDK vs raw native-protocol
// reads against one real server) and remoteclient/ (the smallest remote
// client: its build size is the SDK's weight). Unlike clientsdk itself, these may import
// node/ and actors/ (remoteclient does not, on purpose): they sit at the
// top, beside cmd/.
package examples
