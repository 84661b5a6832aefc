package tokenize

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/rivo/uniseg"
)

// precompiled is SentencePiece's normalizer as carried in a tokenizer.json "Precompiled"
// step: a double-array trie from UTF-8 byte strings to replacements in a blob of
// NUL-terminated strings (for DeBERTa-v3, the nmt_nfkc rules of its spm.model: NFKC, plus
// whitespace variants to a space and control characters removed).
//
// sugarme/tokenizer's Precompiled cannot be used: it panics on its own alignments, cannot
// tell "maps to the empty string" (removal) from "no rule", and rewrites combining marks
// to "U+0301"-style text.
type precompiled struct {
	trie       []uint32
	normalized string
}

func parsePrecompiled(b64 string) (*precompiled, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("precompiled_charsmap: not base64: %w", err)
	}
	if len(raw) < 4 {
		return nil, errors.New("precompiled_charsmap: shorter than its 4-byte trie size")
	}
	size := int(binary.LittleEndian.Uint32(raw))
	if size%4 != 0 || size > len(raw)-4 || size == 0 {
		return nil, fmt.Errorf("precompiled_charsmap: trie size %d does not fit %d bytes", size, len(raw))
	}
	p := &precompiled{trie: make([]uint32, size/4), normalized: string(raw[4+size:])}
	for i := range p.trie {
		p.trie[i] = binary.LittleEndian.Uint32(raw[4+4*i:])
	}
	return p, nil
}

// lookup returns the replacement of the shortest rule that is a prefix of key (the first
// hit of the trie's common-prefix search, as spm_precompiled's transform takes it) and
// whether there is one.
func (p *precompiled) lookup(key string) (string, bool) {
	// Darts-clone double array: a unit holds a label, an offset to its children, a leaf bit.
	offset := func(u uint32) int { return int((u >> 10) << ((u & (1 << 9)) >> 6)) }
	label := func(u uint32) uint32 { return u & ((1 << 31) | 0xFF) }
	pos := offset(p.trie[0])
	for i := 0; i < len(key) && key[i] != 0; i++ {
		pos ^= int(key[i])
		if pos >= len(p.trie) || label(p.trie[pos]) != uint32(key[i]) {
			return "", false
		}
		unit := p.trie[pos]
		pos ^= offset(unit)
		if (unit>>8)&1 == 1 && pos < len(p.trie) {
			start := int(p.trie[pos] & ((1 << 31) - 1))
			if start > len(p.normalized) {
				return "", false
			}
			end := strings.IndexByte(p.normalized[start:], 0)
			if end < 0 {
				end = len(p.normalized) - start
			}
			return p.normalized[start : start+end], true
		}
	}
	return "", false
}

// normalize applies the rules grapheme by grapheme as tokenizers does: a whole grapheme
// shorter than 6 bytes if it has a rule, otherwise each of its characters. The changes
// follow tokenizers' `replace` helper: a longer replacement marks its extra characters as
// inserted; a shorter one (a removal included) charges the difference to the last
// character emitted so far, even one of an earlier grapheme, and a removal with nothing
// emitted before it is charged to nobody, which shifts the following alignments back by
// one character. That is what tokenizers does, so it is copied, not fixed.
func (p *precompiled) normalize(a aligned) (aligned, error) {
	var dest []change
	modified := false
	emit := func(old, repl string) {
		modified = true
		for _, r := range repl {
			dest = append(dest, change{r, 0})
		}
		diff := len([]rune(repl)) - len([]rune(old))
		switch {
		case diff > 0:
			for i := len(dest) - diff; i < len(dest); i++ {
				dest[i].n = 1
			}
		case diff < 0 && len(dest) > 0:
			dest[len(dest)-1].n += diff
		}
	}
	g := uniseg.NewGraphemes(a.s)
	for g.Next() {
		grapheme := g.Str()
		if len(grapheme) < 6 {
			if repl, ok := p.lookup(grapheme); ok {
				emit(grapheme, repl)
				continue
			}
		}
		for _, r := range grapheme {
			if repl, ok := p.lookup(string(r)); ok {
				emit(string(r), repl)
			} else {
				dest = append(dest, change{r, 0})
			}
		}
	}
	if !modified {
		return a, nil
	}
	return a.transform(dest, 0)
}
