// Package embedded shows clientsdk's embedded mode over a real
// actors.Engine: Engine adapts the engine to clientsdk.Embedded, which is
// the method set node/ is meant to offer itself (docs/clientsdk.md lists
// it) so that an in-process scheduler uses the same API as a remote one.
package embedded
