package tokenize

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

const fuzzSource = "fuzz/tokenizer.json"

// shrink cuts a tokenizer.json down to a fuzzing seed: the first keep vocabulary
// entries, the added tokens among them, and no Precompiled charsmap (300 KB of
// base64: FuzzPrecompiled covers it).
func shrink(t testing.TB, raw []byte, keep int) []byte {
	t.Helper()
	var js map[string]any
	if err := json.Unmarshal(raw, &js); err != nil {
		t.Fatal(err)
	}
	model := js["model"].(map[string]any)
	switch v := model["vocab"].(type) {
	case []any: // Unigram
		model["vocab"] = v[:keep]
	case map[string]any: // WordPiece, BPE
		for tok, id := range v {
			if id.(float64) >= float64(keep) {
				delete(v, tok)
			}
		}
	}
	var added []any
	for _, a := range js["added_tokens"].([]any) {
		if a.(map[string]any)["id"].(float64) < float64(keep) {
			added = append(added, a)
		}
	}
	js["added_tokens"] = added
	if norm, ok := js["normalizer"].(map[string]any); ok && norm["type"] == "Sequence" {
		var steps []any
		for _, s := range norm["normalizers"].([]any) {
			if s.(map[string]any)["type"] != "Precompiled" {
				steps = append(steps, s)
			}
		}
		norm["normalizers"] = steps
	}
	out, err := json.Marshal(js)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tinyBPE is a RoBERTa-style byte-level BPE tokenizer.json (encoded by sugarme, not the
// pipeline).
const tinyBPE = `{"version":"1.0","truncation":null,"padding":null,
"added_tokens":[{"id":0,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
{"id":1,"content":"<pad>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
{"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
{"id":3,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
"normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
"post_processor":{"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",0],"trim_offsets":true,"add_prefix_space":false},
"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,"byte_fallback":false,
"vocab":{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"a":4,"b":5,"Ġ":6,"ab":7,"Ġa":8},"merges":["a b","Ġ a"]}}`

// FuzzLoad feeds arbitrary tokenizer.json bytes to the loader, and encodes a few texts
// with whatever it accepts: no panic (not even one Encode recovers into an error), every
// refusal names the file, and every id an accepted tokenizer produces indexes its
// vocabulary. Seeds: the built-in WordPiece tokenizer and the three Unigram fixtures cut
// to 40 tokens, a byte-level BPE, and the id guards of TestLoadGuards. Run with
// `go test -run '^$' -fuzz FuzzLoad -fuzztime 45s -parallel 1 ./models/tokenize`.
func FuzzLoad(f *testing.F) {
	f.Add(shrink(f, builtinJSON, 40))
	for _, p := range []string{"testdata/unigram/tokenizer.json", "testdata/unigram/bytes.json", "testdata/unigram/lower_punct.json"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(shrink(f, raw, 40))
	}
	f.Add([]byte(tinyBPE))
	for _, tc := range loadGuards {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"model": {"type": "Unigram", "vocab": [["<pad>", 0]], "unk_id": 0}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tk, err := parse(raw, fuzzSource)
		if err != nil {
			if !strings.HasPrefix(err.Error(), fuzzSource+": ") {
				t.Fatalf("error does not begin with the file name: %v", err)
			}
			return
		}
		n := tk.VocabSize()
		for _, in := range []struct {
			a, b   string
			pair   bool
			maxLen int
		}{{"Hello, world! ab", "", false, 0}, {"héllo  Wörld [SEP] 東京\t", "ab ba", true, 0}, {"a b a b a b a b", "c", true, 6}} {
			enc, err := tk.Encode(in.a, in.b, in.pair, in.maxLen)
			if err != nil {
				if strings.Contains(err.Error(), "runtime error") {
					t.Fatalf("Encode(%q, %q) recovered a panic: %v", in.a, in.b, err)
				}
				continue
			}
			if len(enc.TypeIDs) != len(enc.IDs) || len(enc.Offsets) != len(enc.IDs) || len(enc.AttentionMask) != len(enc.IDs) {
				t.Fatalf("Encode(%q, %q): %d ids, %d type ids, %d offsets, %d mask", in.a, in.b, len(enc.IDs), len(enc.TypeIDs), len(enc.Offsets), len(enc.AttentionMask))
			}
			for _, id := range enc.IDs {
				if id < 0 || id >= n {
					t.Fatalf("Encode(%q, %q) gives id %d, vocabulary size %d", in.a, in.b, id, n)
				}
			}
		}
	})
}

// loadGuards are tokenizer.json files whose ids reach past the vocabulary: the runner's
// size comparison with the model's vocab_size would pass them, and the first batch with
// such a token would then index past the embedding table.
var loadGuards = []struct{ body, want string }{
	{`{"added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": null,
		"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "[UNK]": 1, "the": 50000}}}`,
		`model.vocab token "the" has id 50000, outside the 3-token vocabulary (ids 0 to 2)`},
	{`{"added_tokens": [{"id": 7, "content": "[MASK]", "normalized": false, "special": true}], "normalizer": null,
		"pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
		"model": {"type": "Unigram", "unk_id": 1, "vocab": [["<pad>", 0], ["<unk>", 0], ["a", -1]]}}`,
		`added_tokens "[MASK]" has id 7, outside the 4-token vocabulary (ids 0 to 3)`},
	{`{"added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "BertPreTokenizer"},
		"post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 101]},
		"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}}}`,
		`post_processor special token 0 of an empty pair has id 101, outside the 4-token vocabulary (ids 0 to 3)`},
}

func TestLoadGuards(t *testing.T) {
	for _, tc := range loadGuards {
		_, err := parse([]byte(tc.body), fuzzSource)
		if err == nil || err.Error() != fuzzSource+": "+tc.want {
			t.Errorf("error %v\nwant %s: %s", err, fuzzSource, tc.want)
		}
	}
	// The shrunk seeds are valid tokenizers (a fuzzing seed that fails to load only
	// exercises the error paths).
	if _, err := parse(shrink(t, builtinJSON, 40), fuzzSource); err != nil {
		t.Errorf("shrunk builtin: %v", err)
	}
	if _, err := parse([]byte(tinyBPE), fuzzSource); err != nil {
		t.Errorf("tiny BPE: %v", err)
	}
}

// tinyCharsmap builds a precompiled_charsmap (before base64) holding rules, in the
// darts-clone double-array layout precompiled.lookup reads: unit 0's offset leads to the
// root's children; a child sits at base ^ byte with its byte as label, bit 8 set when a
// rule ends there, and the offset from it to its own base in bits 10 and up; a rule's
// value (the start of its replacement in the NUL-separated strings) sits at that base,
// with bit 31 set so that it never matches a byte's label.
func tinyCharsmap(rules map[string]string) []byte {
	trie := make([]uint32, 1)
	used := map[int]bool{0: true}
	grow := func(i int) {
		for len(trie) <= i {
			trie = append(trie, 0)
		}
	}
	var blob []byte
	// place finds a free base for slots (byte values) and reserves them. Each node
	// needs a base of its own: a child is recognised by its label alone, so two nodes
	// sharing a base would share children.
	bases := map[int]bool{}
	place := func(slots []int) int {
	next:
		for b := 1; ; b++ {
			if bases[b] {
				continue
			}
			for _, c := range slots {
				if used[b^c] {
					continue next
				}
			}
			for _, c := range slots {
				used[b^c] = true
				grow(b ^ c)
			}
			bases[b] = true
			return b
		}
	}
	type node struct {
		children map[byte]*node
		value    *string
	}
	root := &node{children: map[byte]*node{}}
	for k, v := range rules {
		n := root
		for i := 0; i < len(k); i++ {
			if n.children[k[i]] == nil {
				n.children[k[i]] = &node{children: map[byte]*node{}}
			}
			n = n.children[k[i]]
		}
		n.value = &v
	}
	var build func(n *node, pos int)
	build = func(n *node, pos int) {
		var slots []int
		if n.value != nil {
			slots = append(slots, 0)
		}
		for c := range n.children {
			slots = append(slots, int(c))
		}
		base := place(slots)
		if pos == 0 {
			trie[0] = uint32(base) << 10
		} else {
			trie[pos] |= uint32(pos^base) << 10
		}
		if n.value != nil {
			trie[base] = 1<<31 | uint32(len(blob))
			blob = append(append(blob, *n.value...), 0)
		}
		for c, child := range n.children {
			trie[base^int(c)] = uint32(c)
			if child.value != nil {
				trie[base^int(c)] |= 1 << 8
			}
			build(child, base^int(c))
		}
	}
	build(root, 0)
	out := binary.LittleEndian.AppendUint32(nil, uint32(4*len(trie)))
	for _, u := range trie {
		out = binary.LittleEndian.AppendUint32(out, u)
	}
	return append(out, blob...)
}

// tinyRules are NFKC-like rules of the kinds nmt_nfkc has: a full-width letter, a
// no-break space to a space, a ligature expanded, a removal, and a multi-character key.
var tinyRules = map[string]string{"Ａ": "A", "\u00a0": " ", "ﬁ": "fi", "\u200b": "", "e\u0301": "é"}

// The hand-built charsmap reads back as built: the test of tinyCharsmap (and of lookup
// on a trie that did not come from SentencePiece).
func TestTinyCharsmap(t *testing.T) {
	p, err := parsePrecompiled(base64.StdEncoding.EncodeToString(tinyCharsmap(tinyRules)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tinyRules {
		if got, ok := p.lookup(k); !ok || got != v {
			t.Errorf("lookup(%q) = %q, %v; want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"A", "e", "f", "", "\u00a1"} {
		if got, ok := p.lookup(k); ok {
			t.Errorf("lookup(%q) = %q, want no rule", k, got)
		}
	}
	a, err := p.normalize(newAligned("Ａ\u00a0ﬁx\u200be\u0301", 0))
	if err != nil || a.s != "A fixé" {
		t.Errorf("normalize: %q, %v; want \"A fixé\"", a.s, err)
	}
}

// FuzzPrecompiled feeds arbitrary bytes to the loader of a Precompiled normalizer's
// charsmap (a double-array trie and its replacement strings) and normalizes a text with
// whatever it accepts: out-of-range trie offsets must never index past the arrays.
// Seeds: a small hand-built charsmap and corrupt ones (the fixtures' real 237 KB one
// makes the fuzzer crawl at 90 executions a second). Run with
// `go test -run '^$' -fuzz FuzzPrecompiled -fuzztime 45s -parallel 1 ./models/tokenize`.
func FuzzPrecompiled(f *testing.F) {
	good := tinyCharsmap(tinyRules)
	for _, s := range []string{"Ａ\u00a0ﬁx\u200be\u0301", "e\u0301\t\n x", "①㍿"} {
		f.Add(good, s)
	}
	f.Add([]byte{8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "abc")
	f.Add([]byte{4, 0, 0, 0, 0, 1, 0, 0, 'x', 0}, "x")
	f.Add([]byte{0, 0, 0, 0}, "x")
	f.Add([]byte{1, 2}, "")
	f.Fuzz(func(t *testing.T, charsmap []byte, text string) {
		p, err := parsePrecompiled(base64.StdEncoding.EncodeToString(charsmap))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "precompiled_charsmap: ") {
				t.Fatalf("error does not name precompiled_charsmap: %v", err)
			}
			return
		}
		_, _ = p.normalize(newAligned(text, 0))
	})
}
