package vision

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models/vit"
	"github.com/vectorfit/harness/train"
)

func TestTasks(t *testing.T) {
	var names []string
	for _, task := range Tasks() {
		names = append(names, task.Name)
		if task.Main != MetricAccuracy || task.Protocol.BatchSize != 64 || task.Protocol.Epochs != 10 || task.Protocol.LearningRate != 1e-3 {
			t.Errorf("%s: %+v", task.Name, task)
		}
		if task.Classes != nil && len(task.Classes) != task.NumClasses {
			t.Errorf("%s: %d class names for %d classes", task.Name, len(task.Classes), task.NumClasses)
		}
	}
	if !slices.Equal(names, []string{"cifar10", "gtsrb", "mnist", "resisc45"}) {
		t.Errorf("tasks %v", names)
	}
	for name, flip := range map[string]bool{"cifar10": true, "resisc45": true, "gtsrb": false, "mnist": false} {
		task, err := Lookup(name)
		if err != nil || task.Protocol.Augment.HorizontalFlip != flip {
			t.Errorf("%s: flip %v (%v)", name, task.Protocol.Augment.HorizontalFlip, err)
		}
	}
	if _, err := Lookup("svhn"); err == nil || !strings.Contains(err.Error(), "cifar10, gtsrb, mnist, resisc45") {
		t.Errorf("unknown task: %v", err)
	}
}

func TestLoadSplit(t *testing.T) {
	for _, c := range []struct {
		task, path, split string
		n                 int
	}{
		{"mnist", filepath.Join(sharedData, "mnist"), "test", 10000},
		{"cifar10", filepath.Join(sharedData, "cifar10", "train_png"), "train", 200},
		{"cifar10", filepath.Join(sharedData, "cifar10"), "test_jpg", 200},
		{"gtsrb", filepath.Join(sharedData, "gtsrb"), "train", 215},
	} {
		task, _ := Lookup(c.task)
		d, err := LoadSplit(task, c.path, c.split)
		if err != nil {
			t.Errorf("%s %s: %v", c.task, c.path, err)
			continue
		}
		if len(d.Items) != c.n {
			t.Errorf("%s %s: %d images, want %d", c.task, c.path, len(d.Items), c.n)
		}
	}
	mnist, _ := Lookup("mnist")
	if _, err := LoadSplit(mnist, "testdata/parquet", "train"); err == nil || !strings.Contains(err.Error(), "has 3 classes, mnist has 10") {
		t.Errorf("3-class parquet as mnist: %v", err)
	}
}

// tinyViT is the built-in tiny ViT (32×32, 4×4 patches) with a head for n classes.
func tinyViT(t *testing.T, n int) *vit.Model {
	t.Helper()
	c := vit.Tiny()
	c.NumLabels = int64(n)
	m, err := vit.New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run fine-tunes the tiny ViT with a method for a few epochs through the training
// engine and returns the result.
func run(t *testing.T, task Task, trainSet, dev *Dataset, method string, epochs int) train.Result {
	t.Helper()
	m := tinyViT(t, len(trainSet.Classes))
	meth, err := registry.New(method, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Apply(m); err != nil {
		t.Fatal(err)
	}
	ft, err := NewFinetune(task, m, ProcessorFor(32), trainSet, dev, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	adapter, head := meth.Trainable()
	cfg := train.Config{Epochs: epochs, WarmupRatio: 0.1, Seed: 1}
	opt := cfg.AdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}, {Name: "head", Params: head, LR: 1e-2}})
	res, err := train.Run(cfg, ft, opt, meth.Hooks()...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// End to end on real files: the tiny ViT trained by the engine on 64 MNIST digits
// (VectorFit) and 40 GTSRB signs (LoRA, 43 classes) gives finite accuracies.
func TestFinetuneEndToEnd(t *testing.T) {
	mnistTask, _ := Lookup("mnist")
	all, err := LoadSplit(mnistTask, filepath.Join(sharedData, "mnist"), "test")
	if err != nil {
		t.Fatal(err)
	}
	trainSet := &Dataset{Source: all.Source, Classes: all.Classes, Items: all.Items[:64]}
	dev := &Dataset{Source: all.Source, Classes: all.Classes, Items: all.Items[64:96]}
	res := run(t, mnistTask, trainSet, dev, "vectorfit", 3)
	acc := res.Best.Scores.Values[MetricAccuracy]
	t.Logf("mnist (64 train, 32 dev, vectorfit, 3 epochs): accuracy %.3f, final loss %.3f, %d steps, %v/step", acc, res.FinalLoss, res.Steps, res.StepTime)
	if math.IsNaN(acc) || acc < 0 || acc > 1 || res.Steps != 12 || math.IsNaN(res.FinalLoss) {
		t.Errorf("mnist: accuracy %g, %d steps, loss %g", acc, res.Steps, res.FinalLoss)
	}

	gtsrbTask, _ := Lookup("gtsrb")
	signs, err := LoadSplit(gtsrbTask, filepath.Join(sharedData, "gtsrb"), "train")
	if err != nil {
		t.Fatal(err)
	}
	trainSet, dev, err = signs.Sample(60, 3).Split(1.0/3, 4)
	if err != nil {
		t.Fatal(err)
	}
	res = run(t, gtsrbTask, trainSet, dev, "lora", 2)
	acc = res.Best.Scores.Values[MetricAccuracy]
	t.Logf("gtsrb (%d train, %d dev, lora, 2 epochs): accuracy %.3f, final loss %.3f", len(trainSet.Items), len(dev.Items), acc, res.FinalLoss)
	if math.IsNaN(acc) || acc < 0 || acc > 1 || len(trainSet.Items) != 40 {
		t.Errorf("gtsrb: accuracy %g with %d training images", acc, len(trainSet.Items))
	}
}

// A training batch is the same whether it is decoded by one worker or many, in the
// background or not: augmentation is seeded per image.
func TestDecodingIsDeterministic(t *testing.T) {
	task, _ := Lookup("cifar10")
	d, err := LoadSplit(task, filepath.Join(sharedData, "cifar10", "train_png"), "")
	if err != nil {
		t.Fatal(err)
	}
	ft, err := NewFinetune(task, tinyViT(t, 10), ProcessorFor(32), d, d, 8, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !ft.Augment.RandomResizedCrop {
		t.Fatal("cifar10 trains with random-resized crops")
	}
	batches, _ := ft.Batches(0)
	b := batches[1].(batch)
	ft.Workers = 1
	one := ft.decodeTrain(b)
	ft.Workers = 4
	four := ft.decodeTrain(b)
	ft.prefetchNext(batches[0].(batch))
	background := ft.take(b)
	for _, r := range []decoded{one, four, background} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if !slices.Equal(one.pixels, four.pixels) || !slices.Equal(one.pixels, background.pixels) {
		t.Error("the same batch decodes differently with 1 worker, 4 workers, in the background")
	}
	plain := ft.decodeEval([]Item{d.Items[b.idx[0]]}, 0)
	if slices.Equal(plain.pixels, one.pixels[:ft.Processor.Size()]) {
		t.Error("the training image equals the evaluation image: no augmentation")
	}
	next, _ := ft.Batches(1)
	if slices.Equal(next[1].(batch).idx, b.idx) {
		t.Error("epochs 0 and 1 have the same batch order")
	}
}

// A corrupt image stops training with an error naming its file.
func TestFinetuneReportsCorruptImage(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"a", "b"} {
		for _, n := range []string{"1", "2"} {
			writePNG(t, filepath.Join(root, c, n+".png"), 20, 20)
		}
	}
	bad := filepath.Join(root, "b", "3.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
	d, err := LoadImageFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	task := Task{Name: "toy", NumClasses: 2, Main: MetricAccuracy}
	m := tinyViT(t, 2)
	ft, err := NewFinetune(task, m, ProcessorFor(32), d, d, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	meth, _ := registry.New("fullft", nil)
	meth.Apply(m)
	adapter, head := meth.Trainable()
	cfg := train.Config{Epochs: 1}
	_, err = train.Run(cfg, ft, cfg.AdamW([]train.Group{{Name: "a", Params: adapter, LR: 1e-3}, {Name: "h", Params: head, LR: 1e-3}}))
	if err == nil || !strings.Contains(err.Error(), bad+": corrupt png image") {
		t.Errorf("training on a corrupt file: %v", err)
	}
}

func TestNewFinetuneChecks(t *testing.T) {
	d := &Dataset{Source: "x", Classes: []string{"a", "b", "c"}, Items: []Item{{Path: "p"}}}
	task := Task{Name: "toy", NumClasses: 3}
	if _, err := NewFinetune(task, tinyViT(t, 2), ProcessorFor(32), d, d, 4, 1); err == nil || !strings.Contains(err.Error(), "3 classes, the model's head 2") {
		t.Errorf("head mismatch: %v", err)
	}
	other := &Dataset{Source: "y", Classes: []string{"a", "c", "b"}, Items: d.Items}
	if _, err := NewFinetune(task, tinyViT(t, 3), ProcessorFor(32), d, other, 4, 1); err == nil || !strings.Contains(err.Error(), "differ from train classes") {
		t.Errorf("class order mismatch: %v", err)
	}
	if _, err := NewFinetune(task, tinyViT(t, 3), ProcessorFor(2), d, d, 4, 1); err == nil || !strings.Contains(err.Error(), "smaller than one 4×4 patch") {
		t.Errorf("tiny images: %v", err)
	}
}
