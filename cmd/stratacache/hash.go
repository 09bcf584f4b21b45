package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/placement"
)

// hashOutput is what `stratacache hash` prints (docs/hashing.md).
type hashOutput struct {
	BlockHashesHex []string `json:"block_hashes_hex"`
	BlockHashesU64 []uint64 `json:"block_hashes_u64"`
}

func runHash(args []string, stdout, stderr io.Writer) error {
	return hashCmd(args, os.Stdin, stdout, stderr)
}

// hashCmd reads a JSON array of token ids from stdin and prints the block
// hashes of its full blocks under the chosen scheme.
func hashCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scheme := fs.String("scheme", placement.SchemeVLLM, "hash scheme: vllm (vLLM's sha256_cbor) or stratacache (chained xxhash64)")
	blockSize := fs.Int("block-size", 16, "tokens per block (vLLM's --block-size; StrataCache's chunk size)")
	seed := fs.String("hash-seed", "", "vllm: the pods' PYTHONHASHSEED (required); stratacache: the model name that seeds the chain")
	extraKeys := fs.String("extra-keys", "", `extra keys as JSON: vllm {"lora_name":..., "cache_salt":..., "mm":[{"identifier":..., "offset":N, "length":N}]}; stratacache ["lora:sql", ...]`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: stratacache hash -scheme vllm|stratacache -block-size N [-hash-seed S] [-extra-keys JSON] < tokens.json")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("hash: unexpected arguments %q (the token ids are read from stdin)", fs.Args())
	}
	if err := placement.CheckScheme(*scheme); err != nil {
		return fmt.Errorf("hash: -scheme: %w", err)
	}
	if *blockSize <= 0 {
		return fmt.Errorf("hash: -block-size %d: want a positive number of tokens", *blockSize)
	}
	tokens, err := readTokens(stdin)
	if err != nil {
		return fmt.Errorf("hash: stdin: %w", err)
	}
	out := hashOutput{BlockHashesHex: []string{}, BlockHashesU64: []uint64{}}
	switch *scheme {
	case placement.SchemeVLLM:
		var x *placement.VLLMExtras
		if *extraKeys != "" {
			x = new(placement.VLLMExtras)
			if err := strictJSON(*extraKeys, x); err != nil {
				return fmt.Errorf("hash: -extra-keys: %w", err)
			}
		}
		h, err := placement.NewVLLMHasher(*seed)
		if err != nil {
			return fmt.Errorf("hash: -hash-seed: %w", err)
		}
		hs, err := h.PrefixHashes(nil, tokens, *blockSize, x)
		if err != nil {
			return fmt.Errorf("hash: %w", err)
		}
		for _, b := range hs {
			out.BlockHashesHex = append(out.BlockHashesHex, hex.EncodeToString(b[:]))
			out.BlockHashesU64 = append(out.BlockHashesU64, b.U64())
		}
	case placement.SchemeStrataCache:
		var extra []string
		if *extraKeys != "" {
			if err := strictJSON(*extraKeys, &extra); err != nil {
				return fmt.Errorf("hash: -extra-keys: want a JSON array of strings for the stratacache scheme: %w", err)
			}
		}
		hs, err := placement.PrefixHashes(nil, placement.ModelSeed(*seed, extra...), tokens, *blockSize, false)
		if err != nil {
			return fmt.Errorf("hash: %w", err)
		}
		for _, h := range hs {
			out.BlockHashesHex = append(out.BlockHashesHex, fmt.Sprintf("%016x", h))
			out.BlockHashesU64 = append(out.BlockHashesU64, h)
		}
	}
	b, _ := json.Marshal(out)
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// readTokens reads one JSON array of token ids (unsigned 32-bit integers).
func readTokens(r io.Reader) ([]uint32, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	dec.UseNumber()
	var raw []json.Number
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no input: want a JSON array of token ids")
		}
		return nil, fmt.Errorf("want a JSON array of token ids: %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value: want one array of token ids")
	}
	tokens := make([]uint32, len(raw))
	for i, n := range raw {
		v, err := strconv.ParseUint(n.String(), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("token %d (%s): want an integer in [0, 2^32)", i, n)
		}
		tokens[i] = uint32(v)
	}
	return tokens, nil
}

func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
