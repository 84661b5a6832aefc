package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlotCmdBadInput(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-in", empty}, "plot: -out FILE.svg or FILE.png is required"},
		{[]string{"-in", empty, "-out", "a.svg", "-kind", "loss"}, `plot: unknown -kind "loss", want one of params, time`},
		{[]string{"-in", empty, "-out", "a.svg"}, "reports: no records (*.json) in " + empty},
		{[]string{"-in", empty, "-out", "a.svg", "extra"}, `plot: unexpected argument "extra"`},
	} {
		var out, errw bytes.Buffer
		err := plotCmd(c.args, &out, &errw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
