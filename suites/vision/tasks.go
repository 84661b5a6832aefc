package vision

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MetricAccuracy is the suite's metric (top-1 accuracy, SPEC §3).
const MetricAccuracy = "accuracy"

// Protocol holds a task's training defaults. The VectorFit paper does not publish its
// vision hyperparameters; these are our choice, after common ViT-base PEFT practice
// (Hugging Face's image-classification example, LoRA-family learning rates): batch 64,
// 10 epochs, peak learning rate 1e-3 for LoRA-family adapters, linear schedule with
// 10% warm-up, no weight decay. As for GLUE, LearningRate is the LoRA-family rate; a
// method may override it (singular values and biases usually want more, full
// fine-tuning much less).
type Protocol struct {
	BatchSize    int
	Epochs       int
	LearningRate float64
	WarmupRatio  float64 // fraction of the optimizer steps spent warming up
	WeightDecay  float64
	// Augment is the training-time augmentation; evaluation never augments.
	Augment Augment
}

// Task describes one dataset of the suite.
type Task struct {
	Name string // "cifar10", "gtsrb", "mnist", "resisc45"
	// Classes fixes the label order when the dataset has a canonical one (CIFAR-10's
	// batches.meta.txt, the digits, GTSRB's class ids); nil for RESISC45, whose labels
	// are its sorted class-folder names, as in torchvision and torchgeo.
	Classes    []string
	NumClasses int
	Main       string
	Protocol   Protocol
}

// defaultProtocol is the shared part of the protocols (see Protocol).
func defaultProtocol(aug Augment) Protocol {
	return Protocol{BatchSize: 64, Epochs: 10, LearningRate: 1e-3, WarmupRatio: 0.1, Augment: aug}
}

// tasks is the registry. Augmentation is our choice per dataset: random-resized crop
// and horizontal flip for natural images and aerial scenes (CIFAR-10, RESISC45), as in
// Hugging Face's example; none for digits and traffic signs, whose meaning a mirror
// image changes (a "turn left" sign, a 2 or a 7) and whose small crops lose the symbol.
var tasks = []Task{
	{Name: "cifar10", Classes: CIFAR10Classes, NumClasses: 10, Main: MetricAccuracy, Protocol: defaultProtocol(StandardAugment())},
	{Name: "gtsrb", Classes: GTSRBClasses, NumClasses: 43, Main: MetricAccuracy, Protocol: defaultProtocol(Augment{})},
	{Name: "mnist", Classes: MNISTClasses, NumClasses: 10, Main: MetricAccuracy, Protocol: defaultProtocol(Augment{})},
	{Name: "resisc45", NumClasses: 45, Main: MetricAccuracy, Protocol: defaultProtocol(StandardAugment())},
}

// Tasks lists the suite's tasks in the paper's order.
func Tasks() []Task { return slices.Clone(tasks) }

// Lookup finds a task by name.
func Lookup(name string) (Task, error) {
	for _, t := range tasks {
		if t.Name == name {
			return t, nil
		}
	}
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name
	}
	return Task{}, fmt.Errorf("vision: unknown task %q, want one of %s", name, strings.Join(names, ", "))
}

// LoadSplit reads one split of a task from path, recognising the layouts users keep:
//
//   - a .parquet file, or a Hugging Face dataset folder with shards of split (any task);
//   - mnist: a folder with the IDX files (split train or test);
//   - cifar10: the binary batches' folder (train or test), else an image folder with
//     one sub-folder per class, either path/<split> or path itself;
//   - gtsrb: the official layout (LoadGTSRB); split test reads Final_Test/Images (with
//     GT-final_test.csv placed in it) when path holds it;
//   - resisc45: the class folders (LoadRESISC45); split "" or "all" reads every image,
//     another split needs torchgeo's resisc45-<split>.txt.
//
// The classes must be the task's.
func LoadSplit(t Task, path, split string) (*Dataset, error) {
	d, err := loadSplit(t, path, split)
	if err != nil {
		return nil, err
	}
	if len(d.Classes) != t.NumClasses {
		return nil, fmt.Errorf("vision: %s has %d classes, %s has %d", d.Source, len(d.Classes), t.Name, t.NumClasses)
	}
	return d, nil
}

func loadSplit(t Task, path, split string) (*Dataset, error) {
	if strings.HasSuffix(path, ".parquet") {
		return LoadParquet(path)
	}
	if !isDir(path) {
		return nil, fmt.Errorf("vision: %s is neither a folder nor a .parquet file", path)
	}
	if shards, err := ParquetShards(path, split); err == nil {
		return LoadParquet(shards...)
	}
	switch t.Name {
	case "mnist":
		return LoadMNISTDir(path, split)
	case "cifar10":
		if hasCIFARBatches(path) {
			return LoadCIFAR10Dir(path, split)
		}
		if sub := filepath.Join(path, split); split != "" && isDir(sub) {
			path = sub
		}
		return LoadImageFolder(path, t.Classes)
	case "gtsrb":
		if sub := filepath.Join(path, "Final_Test", "Images"); split == "test" && isDir(sub) {
			path = sub
		}
		return LoadGTSRB(path)
	case "resisc45":
		if split == "all" {
			split = ""
		}
		return LoadRESISC45(path, split)
	}
	return nil, fmt.Errorf("vision: no loader for task %q", t.Name)
}

func hasCIFARBatches(dir string) bool {
	for _, d := range []string{dir, filepath.Join(dir, "cifar-10-batches-bin")} {
		for _, f := range []string{"data_batch_1.bin", "test_batch.bin"} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				return true
			}
		}
	}
	return false
}
