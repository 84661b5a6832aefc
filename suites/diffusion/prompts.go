// Package diffusion is the DreamBooth suite (Ruiz et al. 2023): subject-driven
// fine-tuning of Stable Diffusion on a few images of one subject, then generation from
// the evaluation prompts, scored for subject fidelity (DINO, CLIP-I) and prompt
// fidelity (CLIP-T). It knows the data, the training objective and the metrics; the
// models (CLIP text encoder, VAE, UNet, scheduler, DINO, CLIP) come in through the
// small interfaces of pipeline.go.
package diffusion

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// PromptsFile is the DreamBooth dataset's list of subjects, classes and evaluation
// prompts.
const PromptsFile = "prompts_and_classes.txt"

// Prompts is what prompts_and_classes.txt holds: the class of every subject and the
// 25 evaluation prompts for objects and for live subjects (format strings of the
// unique token {0} and the class {1}).
type Prompts struct {
	Classes  map[string]string // subject folder → class noun ("dog2" → "dog")
	Subjects []string          // in file order
	Object   []string
	Live     []string
}

// liveClasses are the classes the DreamBooth dataset evaluates with the live-subject
// prompts (its cats and dogs); every other subject is an object.
var liveClasses = map[string]bool{"cat": true, "dog": true}

// For returns subject's evaluation prompts with token and class filled in.
func (p Prompts) For(subject, token string) ([]string, error) {
	class, ok := p.Classes[subject]
	if !ok {
		return nil, fmt.Errorf("diffusion: subject %q is not in %s (subjects: %s)", subject, PromptsFile, strings.Join(p.Subjects, ", "))
	}
	list := p.Object
	if liveClasses[class] {
		list = p.Live
	}
	out := make([]string, len(list))
	for i, f := range list {
		out[i] = strings.NewReplacer("{0}", token, "{1}", class).Replace(f)
	}
	return out, nil
}

// promptLine is one entry of a prompt_list: 'a {0} {1} in the jungle'.format(unique_token, class_token),
var promptLine = regexp.MustCompile(`^'([^']*)'\.format\(unique_token, class_token\),?$`)

// ReadPrompts parses prompts_and_classes.txt: a "subject_name,class" CSV block after
// "Classes", then "Object Prompts" and "Live Subject Prompts", each a Python
// prompt_list of '….format(unique_token, class_token)' lines.
func ReadPrompts(path string) (Prompts, error) {
	f, err := os.Open(path)
	if err != nil {
		return Prompts{}, fmt.Errorf("diffusion: %w", err)
	}
	defer f.Close()
	p := Prompts{Classes: map[string]string{}}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "Classes", "Prompts":
			section = line
			continue
		case "Object Prompts":
			section = "object"
			continue
		case "Live Subject Prompts":
			section = "live"
			continue
		case "prompt_list = [", "]", "subject_name,class":
			continue
		}
		bad := func(want string) error { return fmt.Errorf("diffusion: %s:%d: %q: want %s", path, n, line, want) }
		switch section {
		case "Classes":
			subject, class, ok := strings.Cut(line, ",")
			if !ok || subject == "" || class == "" {
				return Prompts{}, bad(`"subject,class"`)
			}
			p.Classes[subject] = class
			p.Subjects = append(p.Subjects, subject)
		case "object", "live":
			m := promptLine.FindStringSubmatch(line)
			if m == nil || !strings.Contains(m[1], "{0}") || !strings.Contains(m[1], "{1}") {
				return Prompts{}, bad("'… {0} {1} …'.format(unique_token, class_token),")
			}
			if section == "object" {
				p.Object = append(p.Object, m[1])
			} else {
				p.Live = append(p.Live, m[1])
			}
		default:
			return Prompts{}, bad(`a "Classes" or "Prompts" section first`)
		}
	}
	if err := sc.Err(); err != nil {
		return Prompts{}, fmt.Errorf("diffusion: %s: %w", path, err)
	}
	if len(p.Classes) == 0 || len(p.Object) == 0 || len(p.Live) == 0 {
		return Prompts{}, fmt.Errorf("diffusion: %s: %d classes, %d object and %d live prompts, want all > 0", path, len(p.Classes), len(p.Object), len(p.Live))
	}
	return p, nil
}
