package diffusion

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const shared = "../../../shared/data/dreambooth/dataset"

func TestReadPromptsOfTheDataset(t *testing.T) {
	p, err := ReadPrompts(filepath.Join(shared, PromptsFile))
	if err != nil {
		t.Fatal(err)
	}
	// The DreamBooth dataset: 30 subjects, 25 prompts of each kind.
	if len(p.Subjects) != 30 || len(p.Object) != 25 || len(p.Live) != 25 {
		t.Fatalf("%d subjects, %d object, %d live prompts; want 30, 25, 25", len(p.Subjects), len(p.Object), len(p.Live))
	}
	if p.Classes["bear_plushie"] != "stuffed animal" || p.Classes["dog2"] != "dog" {
		t.Errorf("classes %v", p.Classes)
	}
	dog, err := p.For("dog", "sks")
	if err != nil {
		t.Fatal(err)
	}
	if dog[0] != "a sks dog in the jungle" || dog[10] != "a sks dog wearing a red hat" || dog[24] != "a cube shaped sks dog" {
		t.Errorf("dog prompts %q", dog)
	}
	pack, _ := p.For("backpack", "sks")
	if pack[10] != "a sks backpack with a wheat field in the background" {
		t.Errorf("object prompt 10: %q", pack[10])
	}
	if _, err := p.For("unicorn", "sks"); err == nil || !strings.Contains(err.Error(), `subject "unicorn" is not in`) {
		t.Errorf("unknown subject: %v", err)
	}
}

func TestReadPromptsErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"Classes\nsubject_name,class\ndog\n", `:3: "dog": want "subject,class"`},
		{"Classes\ndog,dog\nObject Prompts\nprompt_list = [\n'a {0} in the jungle'.format(unique_token, class_token),\n", `:5: "'a {0} in the jungle'.format(unique_token, class_token),": want`},
		{"dog,dog\n", `:1: "dog,dog": want a "Classes" or "Prompts" section first`},
		{"Classes\ndog,dog\n", "1 classes, 0 object and 0 live prompts"},
	} {
		path := filepath.Join(t.TempDir(), PromptsFile)
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPrompts(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}
