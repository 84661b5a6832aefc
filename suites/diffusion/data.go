package diffusion

import (
	"fmt"
	"image"
	_ "image/jpeg" // the DreamBooth dataset's subjects
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vectorfit/harness/imaging"
)

// Subject is what DreamBooth fine-tunes on: a few images of one subject, the prompt
// that names it with the unique token, and the class prompt of prior preservation.
type Subject struct {
	Name           string         // folder name ("dog")
	Class          string         // class noun ("dog")
	Images         []string       // files, sorted
	Decoded        []*imaging.RGB // the images (LoadImages of Images, or drawn: Synthetic)
	InstancePrompt string         // "a photo of sks dog"
	ClassPrompt    string         // "a photo of dog"
	// EvalPrompts are the prompts generated from for scoring: the dataset's 25 for the
	// subject's kind (live or object), or the instance prompt for a plain folder.
	EvalPrompts []string
}

// imageExts are the image files a subject folder may hold.
var imageExts = []string{".jpg", ".jpeg", ".png"}

// LoadDreamBooth reads one subject of the DreamBooth dataset layout: root holds
// prompts_and_classes.txt and one folder of images per subject. token is the unique
// identifier ("sks", the diffusers example's); the prompts are the diffusers
// example's "a photo of sks dog" / "a photo of dog".
func LoadDreamBooth(root, subject, token string) (Subject, error) {
	prompts, err := ReadPrompts(filepath.Join(root, PromptsFile))
	if err != nil {
		return Subject{}, err
	}
	eval, err := prompts.For(subject, token)
	if err != nil {
		return Subject{}, err
	}
	class := prompts.Classes[subject]
	images, err := ImagesIn(filepath.Join(root, subject))
	if err != nil {
		return Subject{}, err
	}
	return Subject{Name: subject, Class: class, Images: images, EvalPrompts: eval,
		InstancePrompt: fmt.Sprintf("a photo of %s %s", token, class), ClassPrompt: "a photo of " + class}, nil
}

// LoadFolder reads a plain folder of a subject's images with the prompts given on the
// command line (-instance-prompt, -class-prompt).
func LoadFolder(dir, instancePrompt, classPrompt string) (Subject, error) {
	if strings.TrimSpace(instancePrompt) == "" {
		return Subject{}, fmt.Errorf("diffusion: %s is a plain image folder: give -instance-prompt (e.g. \"a photo of sks dog\") and -class-prompt", dir)
	}
	images, err := ImagesIn(dir)
	if err != nil {
		return Subject{}, err
	}
	return Subject{Name: filepath.Base(dir), Images: images, InstancePrompt: instancePrompt, ClassPrompt: classPrompt,
		EvalPrompts: []string{instancePrompt}}, nil
}

// ImagesIn lists the image files of dir, sorted; none is an error.
func ImagesIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("diffusion: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("diffusion: %s has no images (%s files)", dir, strings.Join(imageExts, ", "))
	}
	slices.Sort(out)
	return out, nil
}

// maxImagePixels bounds a decoded image (a 100-megapixel photo is a mistake here).
const maxImagePixels = 100 << 20

// ReadImage decodes an image file to 8-bit RGB as PIL's Image.open(...).convert("RGB").
func ReadImage(path string) (*imaging.RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("diffusion: %w", err)
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("diffusion: %s: not a readable image (%v); want JPEG or PNG", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels || cfg.Width < 1 || cfg.Height < 1 {
		return nil, fmt.Errorf("diffusion: %s: %d×%d %s, want 1 to %d pixels", path, cfg.Width, cfg.Height, format, maxImagePixels)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("diffusion: %w", err)
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("diffusion: %s: %s data is damaged: %v", path, format, err)
	}
	return imaging.ToRGB(img), nil
}

// Preprocess is train_dreambooth.py's image transform: Resize(resolution) on the
// shorter side (PIL bilinear, as torchvision calls it on a PIL image), CenterCrop,
// ToTensor, Normalize([0.5], [0.5]): channels × resolution × resolution in [−1, 1].
func Preprocess(m *imaging.RGB, resolution int) []float32 {
	w, h := resolution, resolution
	// torchvision's _compute_resized_output_size: the short side to the size, the long
	// one scaled and truncated.
	if m.W < m.H {
		h = int(float64(resolution) * float64(m.H) / float64(m.W))
	} else {
		w = int(float64(resolution) * float64(m.W) / float64(m.H))
	}
	if w != m.W || h != m.H {
		m = m.Resize(w, h)
	}
	// CenterCrop: top = int(round((h − size) / 2)), Python's round half to even.
	top, left := roundHalfEven(float64(h-resolution)/2), roundHalfEven(float64(w-resolution)/2)
	m = m.Crop(left, top, resolution, resolution)
	out := make([]float32, 3*resolution*resolution)
	plane := resolution * resolution
	for i := range plane {
		for c := range 3 {
			out[c*plane+i] = (float32(m.Pix[3*i+c])/255 - 0.5) / 0.5
		}
	}
	return out
}

func roundHalfEven(x float64) int {
	r := int(x)
	if d := x - float64(r); d > 0.5 || (d == 0.5 && r%2 == 1) {
		r++
	}
	return r
}

// LoadImages decodes every image, failing on the first bad one before any training
// starts.
func LoadImages(paths []string) ([]*imaging.RGB, error) {
	out := make([]*imaging.RGB, len(paths))
	for i, p := range paths {
		m, err := ReadImage(p)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// PreprocessAll is Preprocess of every image.
func PreprocessAll(images []*imaging.RGB, resolution int) [][]float32 {
	out := make([][]float32, len(images))
	for i, m := range images {
		out[i] = Preprocess(m, resolution)
	}
	return out
}
