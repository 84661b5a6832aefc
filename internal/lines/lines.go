// Package lines reads line-based data files with a bounded cost per line, for every
// suite's TSV, JSON-lines and prediction readers: a line longer than the cap is
// measured and skipped, never held in memory whole.
package lines

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// Read reads one line, its newline kept, holding at most limit bytes of it in memory.
// length is the line's length without the newline; when it is over limit, line is
// empty and the rest of the line has been read past.
func Read(r *bufio.Reader, limit int) (line string, length int, err error) {
	var buf []byte
	total := 0 // bytes of the line read so far, newline included
	for {
		chunk, err := r.ReadSlice('\n')
		total += len(chunk)
		if total <= limit+1 {
			buf = append(buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		length = total
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			length--
		}
		if length > limit {
			return "", length, err
		}
		return string(buf), length, err
	}
}

// DecodeObject decodes exactly one JSON object, keeping numbers exact (json.Number,
// so that 1 and 1.5 can be told apart).
func DecodeObject(line string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("got null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value on the line")
	}
	return obj, nil
}
