package tokenize

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// aligned is Hugging Face's NormalizedString, reduced to what the pipeline needs:
// the text as normalized so far and, for each of its bytes, the [start, end) byte range of
// the input text it comes from. Token offsets are read from these alignments, so every
// operation below updates them exactly as `tokenizers` (0.19) does, quirks included.
// Ranges are absolute in the input (tokenizers keeps them relative to slices plus a shift:
// the sum is the same).
type aligned struct {
	s     string
	align [][2]int
	// start is where the slice this string was cut from begins in the input
	// (tokenizers' offsets_original().0), which Metaspace's "first" scheme asks for.
	start int
}

// newAligned maps each byte of text (found at base in the input) to its character.
// Invalid UTF-8 bytes become U+FFFD aligned to the one byte: tokenizers only ever sees
// valid UTF-8, and this keeps every later step on valid text.
func newAligned(text string, base int) aligned {
	a := aligned{align: make([][2]int, 0, len(text)), start: base}
	var b strings.Builder
	for i, r := range text {
		width := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, width = utf8.DecodeRuneInString(text[i:])
		}
		b.WriteRune(r)
		for range utf8.RuneLen(r) {
			a.align = append(a.align, [2]int{base + i, base + i + width})
		}
	}
	a.s = b.String()
	return a
}

// change is one character of a transformation's output with tokenizers' `changes`:
// 1 for an inserted character, 0 for one that replaces the next input character,
// -k for one that replaces it and removes the k characters after it.
type change struct {
	r rune
	n int
}

// transform rewrites the whole string as tokenizers' NormalizedString::transform does:
// the first initialOffset characters are dropped, a replacing character takes the
// alignment of the input character it replaces, an inserted one the alignment of the
// byte just before it (none at the very start). Input characters left unconsumed at the
// end are dropped.
func (a aligned) transform(dest []change, initialOffset int) (aligned, error) {
	old := []rune(a.s)
	next, offset := 0, 0 // next input character and its byte offset
	consume := func(k int) {
		for ; k > 0 && next < len(old); k-- {
			offset += utf8.RuneLen(old[next])
			next++
		}
	}
	consume(initialOffset)
	out := aligned{align: make([][2]int, 0, len(a.align)), start: a.start}
	var b strings.Builder
	for _, d := range dest {
		var al [2]int
		switch {
		case d.n > 0 && offset >= 1:
			al = a.align[offset-1]
		case d.n > 0:
			al = [2]int{0, 0}
		case offset < len(a.align):
			al = a.align[offset]
			consume(1 - d.n)
		default: // tokenizers panics here; no transformation below gets here
			return aligned{}, fmt.Errorf("normalizing %q: a transformation consumes more characters than there are", a.s)
		}
		b.WriteRune(d.r)
		for range utf8.RuneLen(d.r) {
			out.align = append(out.align, al)
		}
	}
	out.s = b.String()
	return out, nil
}

// strip removes leading and/or trailing whitespace (Unicode White_Space, as Rust's
// char::is_whitespace and Go's unicode.IsSpace agree). tokenizers marks the trailing
// removal on the wrong character when the text has multi-byte characters (it compares a
// character index with a byte length), but that only changes which input characters are
// consumed after the last kept one, never an alignment, so the plain version is exact.
func (a aligned) strip(left, right bool) aligned {
	runes := []rune(a.s)
	lead, trail := 0, 0
	for left && lead < len(runes) && isSpace(runes[lead]) {
		lead++
	}
	for right && trail < len(runes)-lead && isSpace(runes[len(runes)-1-trail]) {
		trail++
	}
	if lead == 0 && trail == 0 {
		return a
	}
	dest := make([]change, 0, len(runes)-lead-trail)
	for _, r := range runes[lead : len(runes)-trail] {
		dest = append(dest, change{r, 0})
	}
	out, _ := a.transform(dest, lead) // replaces characters one for one: cannot fail
	return out
}

// replace substitutes content for each match [start, end) of the pattern. The new
// characters are all "inserted" after the match is removed, so each takes the alignment
// of the match's last byte (tokenizers' NormalizedString::replace).
func (a aligned) replace(matches [][2]int, content string) aligned {
	if len(matches) == 0 {
		return a
	}
	out := aligned{start: a.start}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		b.WriteString(a.s[last:m[0]])
		out.align = append(out.align, a.align[last:m[0]]...)
		al := [2]int{0, 0}
		if m[1] >= 1 {
			al = a.align[m[1]-1]
		}
		b.WriteString(content)
		for range len(content) {
			out.align = append(out.align, al)
		}
		last = m[1]
	}
	b.WriteString(a.s[last:])
	out.align = append(out.align, a.align[last:]...)
	out.s = b.String()
	return out
}

// prepend puts s in front; all of it shares the first character's alignment
// (tokenizers replaces the first character by s followed by that character).
func (a aligned) prepend(s string) aligned {
	if a.s == "" {
		return a
	}
	out := aligned{s: s + a.s, start: a.start, align: make([][2]int, 0, len(s)+len(a.align))}
	for range len(s) {
		out.align = append(out.align, a.align[0])
	}
	out.align = append(out.align, a.align...)
	return out
}

// slice cuts bytes [i, j) of the normalized string; the slice starts in the input where
// its first byte comes from (tokenizers' NormalizedString::slice shift).
func (a aligned) slice(i, j int) aligned {
	out := aligned{s: a.s[i:j], align: a.align[i:j], start: a.start}
	if j > i {
		out.start = a.align[i][0]
	}
	return out
}

// offsets converts the normalized byte range [i, j) to input byte offsets: from the
// start of the first byte's alignment to the end of the last one's.
func (a aligned) offsets(i, j int) [2]int {
	if i >= j {
		return [2]int{i, j}
	}
	return [2]int{a.align[i][0], a.align[j-1][1]}
}

// isSpace is Unicode White_Space, the set Rust's char::is_whitespace tests.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// filter keeps the characters keep accepts, as tokenizers' NormalizedString::filter: a
// kept character replaces itself and the removed ones right after it, and removed
// characters at the very start are the transformation's initial offset.
func (a aligned) filter(keep func(rune) bool) (aligned, error) {
	runes := []rune(a.s)
	dest := make([]change, 0, len(runes))
	removed := 0
	for i := len(runes) - 1; i >= 0; i-- { // backwards, as tokenizers counts the removals
		if !keep(runes[i]) {
			removed++
			continue
		}
		dest = append(dest, change{runes[i], -removed})
		removed = 0
	}
	if len(dest) == len(runes) {
		return a, nil
	}
	slices.Reverse(dest)
	return a.transform(dest, removed)
}

// mapRunes replaces every character by f of it (tokenizers' NormalizedString::map):
// each new character takes the alignment of the one it replaces.
func (a aligned) mapRunes(f func(rune) rune) aligned {
	changed := false
	for _, r := range a.s {
		if f(r) != r {
			changed = true
			break
		}
	}
	if !changed {
		return a
	}
	out := aligned{align: make([][2]int, 0, len(a.align)), start: a.start}
	var b strings.Builder
	b.Grow(len(a.s))
	for i, r := range a.s {
		c := f(r)
		b.WriteRune(c)
		for range utf8.RuneLen(c) {
			out.align = append(out.align, a.align[i])
		}
	}
	out.s = b.String()
	return out
}
