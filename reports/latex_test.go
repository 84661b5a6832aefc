package reports

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The LaTeX tables of the golden records: a reviewed diff like the markdown ones.
func TestGoldenLaTeX(t *testing.T) {
	for _, c := range []struct {
		name    string
		records []Record
	}{
		{"suites.tex", suiteRecords()},
		{"glue_two_tasks.tex", goldenRecords()},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, c.records, "latex"); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, c.name, b.String())
		})
	}
}

// Hand-written expectations: LaTeX's specials and the non-ASCII characters of our
// method names become text-mode LaTeX.
func TestLatexEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Adapter^H", `Adapter\textsuperscript{H}`},
		{"VectorFit (Σ only)", `VectorFit ($\Sigma$ only)`},
		{"lr_max=5%", `lr\_max=5\%`},
		{"a & b # c $ {x} ~", `a \& b \# c \$ \{x\} \textasciitilde{}`},
		{`back\slash ^ alone`, `back\textbackslash{}slash \textasciicircum{} alone`},
		{"89.90 ± 0.12 – n/a", `89.90 $\pm$ 0.12 -- n/a`},
	} {
		if got := latexEscape(c.in); got != c.want {
			t.Errorf("latexEscape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A row's cells: bold best mean with its spread as a subscript, pairs joined by "/",
// the # Params count alone, escaped method names.
func TestLaTeXCells(t *testing.T) {
	rs := []Record{
		rec("rte", "hadapter", 1, "accuracy", 0.80), rec("rte", "hadapter", 2, "accuracy", 0.84),
		rec("rte", "vectorfit-sigma", 1, "accuracy", 0.70),
		rec("mrpc", "hadapter", 1, "accuracy", 0.875).with(map[string]float64{"f1": 0.90}),
		rec("mrpc", "vectorfit-sigma", 1, "accuracy", 0.85).with(map[string]float64{"f1": 0.91}),
	}
	rs[0].Params, rs[1].Params, rs[3].Params = counts(14_336, 10, 1e8), counts(14_336, 10, 1e8), counts(14_336, 10, 1e8)
	rs[2].Params, rs[4].Params = counts(138_240, 10, 1e8), counts(138_240, 10, 1e8)
	var b bytes.Buffer
	if err := Render(&b, rs, "latex"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`Method & \# Params & MRPC & RTE & Avg. \\`,
		` &  & Acc/F1 & Acc &  \\`,
		// Adapter^H: RTE mean 82.00, sample std of 80 and 84 = 2.83; MRPC Acc best, F1 not;
		// Avg. (87.50 + 82.00) / 2 = 84.75.
		`Adapter\textsuperscript{H} & 14.3K & \textbf{87.50}/90.00 & \textbf{82.00}$_{\pm 2.83}$ & \textbf{84.75} \\`,
		`VectorFit ($\Sigma$ only) & 0.138M & 85.00/\textbf{91.00} & 70.00 & 77.50 \\`,
		`\begin{tabular}{lrccc}`, `\toprule`, `\midrule`, `\bottomrule`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

// The tables compile with pdflatex when it is installed (Debian: texlive-latex-recommended).
func TestLaTeXCompiles(t *testing.T) {
	pdflatex, err := exec.LookPath("pdflatex")
	if err != nil {
		t.Skip("pdflatex not installed (apt-get install texlive-latex-recommended)")
	}
	var b bytes.Buffer
	if err := Render(&b, suiteRecords(), "latex"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	doc := "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n\\usepackage[margin=1cm,landscape]{geometry}\n" +
		"\\begin{document}\n" + b.String() + "\\end{document}\n"
	if err := os.WriteFile(filepath.Join(dir, "t.tex"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdflatex: %v\n%s", err, out)
	}
}
