// Package trace reads prefix-hash request traces into a compact in-memory
// form for the simulator: every request is an offset range into one []uint32
// of dense block ids, and every dense id knows its parent and depth in the
// prefix tree.
//
// Two JSONL forms are read, both with a hand-rolled scanner that allocates
// only while the trace's arrays grow:
//   - Mooncake (FAST'25 release): timestamp (ms), input_length,
//     output_length, hash_ids of 512-token blocks; equal ids mean an equal
//     prefix, so blocks are keyed by id.
//   - Qwen-Bailian: chat_id, parent_chat_id, timestamp (s), input_length,
//     output_length, type, turn, hash_ids of 16-token blocks; ids are not
//     promised to be globally unique, so blocks are keyed by their path
//     (parent block, id).
//
// trace imports nothing of this module: it is data, not policy.
package trace
