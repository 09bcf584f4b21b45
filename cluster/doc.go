// Package cluster makes StrataCache nodes one storage plane: memberlist
// membership and failure detection, node metadata (epoch, peer address,
// tier capacity and free bytes, load), a partitioned directory of holder
// sets (each entry on its R rendezvous replicas, updated by the holders over
// the peer transport, repaired by digests and handed off on membership
// changes), rendezvous placement (placement/, shared with clientsdk), a peer
// transport on
// the native protocol's frames (messages/frame, ops 64-70), and RemoteTier:
// the other nodes' pools as the last tier of the local chain.
//
// A node assembles it in three calls (docs/cluster.md): New, then
// (*Node).Tiers around the local tiers to build the actors.Engine, then
// (*Node).Start with that engine.
//
// It imports actors/, tiers/, artifact/, placement/ and messages/ (with
// messages/frame).
// It must not import node/ or clientsdk/, and it does not use protoactor-go's
// remote or cluster packages (see DESIGN.md for why).
package cluster
