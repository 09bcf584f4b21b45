// Package embedded shows clientsdk's embedded mode: a scheduler and a node in
// one process, the scheduler using the same clientsdk calls as against a
// remote node. *node.Node satisfies clientsdk.Embedded (the interface
// clientsdk declares so that neither package imports the other); this
// example, above both, wires them together.
package embedded
