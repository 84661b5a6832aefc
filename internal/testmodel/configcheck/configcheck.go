// Package configcheck holds what the model families' config.json tests share: a
// refusal must name the file, and an accepted config must describe a model that can
// be built, with positive dimensions and at most models.MaxParams parameters.
package configcheck

import (
	"strings"
	"testing"

	"github.com/vectorfit/harness/models"
)

// Source is the file name the tests parse configs as.
const Source = "fuzz/config.json"

// Refused reports whether ParseConfig refused the input; a refusal that does not
// begin with the file name fails t.
func Refused(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), Source+": ") {
		t.Fatalf("error does not begin with the file name: %v", err)
	}
	return err != nil
}

// Buildable fails t when an accepted config's parameter specs have a dimension < 1 or
// add up to more than models.MaxParams parameters.
func Buildable(t *testing.T, specs []models.ParamSpec) {
	t.Helper()
	var total int64
	for _, s := range specs {
		for _, d := range s.Shape {
			if d < 1 {
				t.Fatalf("accepted config gives %s shape %v", s.Name, s.Shape)
			}
		}
		total += models.Numel(s.Shape)
	}
	if total > models.MaxParams {
		t.Fatalf("accepted config has %d parameters", total)
	}
}
