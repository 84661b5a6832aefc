package nlg

import (
	"strings"
)

// Sentence splitting for ROUGE-Lsum.
//
// run_summarization.py's postprocess_text strips each text and joins
// nltk.sent_tokenize(text) with "\n" before scoring, so rougeLsum sees one
// sentence per line. SplitSentences is nltk.sent_tokenize: NLTK's Punkt
// sentence tokenizer with its English punkt_tab parameters (punkt.go), equal to
// nltk 3.10.4 on every text of testdata/punkt.json (XSum and CNN/DailyMail
// summaries and articles, and hand-made hard cases; see testdata/README.md).

// PostprocessText is run_summarization.py's postprocess_text for one text:
// strip (Python's str.strip), then one nltk.sent_tokenize sentence per line.
// Apply it to predictions and references before Rouge / CorpusRouge.
func PostprocessText(text string) string {
	return strings.Join(SplitSentences(strings.TrimFunc(text, pyIsSpace)), "\n")
}

// SplitSentences is nltk.sent_tokenize(text) (language "english"): the
// sentences are slices of text; a sentence may hold a "\n" (rougeLsum splits
// there anyway); empty text gives no sentences.
func SplitSentences(text string) []string {
	return PunktSentences(text)
}
