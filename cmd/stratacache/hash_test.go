package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func seqJSON(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, i)
	}
	b.WriteByte(']')
	return b.String()
}

// The CLI prints docs/hashing.md's vectors (the first rows of the vllm and
// stratacache tables).
func TestHashCommand(t *testing.T) {
	cases := []struct {
		args  []string
		input string
		want  hashOutput
	}{
		{[]string{"-scheme", "vllm", "-block-size", "16", "-hash-seed", "0"}, seqJSON(32), hashOutput{
			[]string{"d830de3d42c00f25a2949b5d12d98642664a44872c1614c5b0147556276afc9c", "fedd9e4abebebbe6f6cf96b682f08d316063fe2f22a5c552192dd62904fcccac"},
			[]uint64{12687895063098490012, 1814341696565857452}}},
		{[]string{"-scheme", "vllm", "-block-size", "16", "-hash-seed", "42", "-extra-keys", `{"lora_name":"sql-lora"}`}, seqJSON(40), hashOutput{
			[]string{"827cb8ed980f55f82e059bbb4d1050e6eadb5c6d0b84e6a671fe4cf1d3225a9c", "06c4032dfa3460de4e4bc4261f33773dd9d2fd649b0d0d52cd591446465b3dd6"},
			[]uint64{8214087371883436700, 14796880342763126230}}},
		{[]string{"-scheme", "stratacache", "-block-size", "16", "-hash-seed", "llama-3-8b", "-extra-keys", `["lora:sql"]`}, seqJSON(32), hashOutput{
			[]string{"1cd05e80e874fc1a", "74c81ae7751a1632"}, []uint64{0x1cd05e80e874fc1a, 0x74c81ae7751a1632}}},
		{[]string{"-scheme", "vllm", "-block-size", "16", "-hash-seed", "0"}, "[1,2,3]", hashOutput{[]string{}, []uint64{}}},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if err := hashCmd(c.args, strings.NewReader(c.input), &out, &errb); err != nil {
			t.Fatalf("%v: %v %s", c.args, err, errb.String())
		}
		var got hashOutput
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%v:\n got  %v\n want %v", c.args, got, c.want)
		}
		if !strings.Contains(out.String(), `"block_hashes_hex":[`) || !strings.Contains(out.String(), `"block_hashes_u64":[`) {
			t.Errorf("field names: %s", out.String())
		}
	}
}

func TestHashCommandErrors(t *testing.T) {
	cases := []struct {
		args  []string
		input string
		want  string
	}{
		{[]string{"-scheme", "vllm"}, "[1]", "PYTHONHASHSEED"},
		{[]string{"-scheme", "md5"}, "[1]", "unknown hash scheme"},
		{[]string{"-hash-seed", "0", "-block-size", "0"}, "[1]", "block-size"},
		{[]string{"-hash-seed", "0"}, "[1, -1]", "token 1"},
		{[]string{"-hash-seed", "0"}, "[1, 4294967296]", "token 1"},
		{[]string{"-hash-seed", "0"}, `{"tokens": [1]}`, "JSON array"},
		{[]string{"-hash-seed", "0"}, "", "no input"},
		{[]string{"-hash-seed", "0"}, "[1] [2]", "more than one"},
		{[]string{"-hash-seed", "0", "-extra-keys", `{"lora":"x"}`}, "[1]", "extra-keys"},
		{[]string{"-scheme", "stratacache", "-extra-keys", `{"lora_name":"x"}`}, "[1]", "array of strings"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		err := hashCmd(c.args, strings.NewReader(c.input), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %q: %v, want an error naming %q", c.args, c.input, err, c.want)
		}
	}
}
