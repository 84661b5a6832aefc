package lora

// Writing PEFT LoRA adapters: the inverse of peft.go. SavePEFT writes the folder that
// peft 0.12.0's save_pretrained would write for this LoRA on the Hugging Face model, so
// that PeftModel.from_pretrained(base, dir) rebuilds the fine-tuned model:
//
//   - adapter_model.safetensors: base_model.model.<module>.lora_A.weight (r×in) and
//     .lora_B.weight (out×r) of every adapted linear, and the task head, which every
//     method trains, under base_model.model.<head parameter> (PEFT saves a
//     modules_to_save copy without its "modules_to_save.default" infix); metadata
//     {"format": "pt"}, as PEFT writes it.
//   - adapter_config.json: a LoraConfig whose target_modules selects exactly the
//     adapted linears (PEFT's list semantics: a module named as an entry or ending in
//     "."+entry), modules_to_save the head's top-level modules, r and lora_alpha (with
//     rank_pattern/alpha_pattern for modules that differ, which only an adapter read
//     with FromPEFT has), task_type SEQ_CLS for a text classifier, else null.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/atomicfile"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// adapterFiles are what a PEFT adapter folder holds (save_pretrained also writes a
// model card, README.md). SavePEFT replaces a folder holding only these.
var adapterFiles = []string{"adapter_config.json", "adapter_model.safetensors", "README.md"}

// SavePEFT writes lo as a PEFT LoRA adapter folder dir for the base model baseModel
// (adapter_config.json's base_model_name_or_path: a hub id or a folder). Load it with
//
//	base = AutoModelForSequenceClassification.from_pretrained(baseModel, num_labels=N)
//	model = PeftModel.from_pretrained(base, dir)
//
// (AutoModelForQuestionAnswering for a span head, AutoModelForImageClassification for
// ViT), or with FromPEFT / LoadPEFT here.
// The head is restored from the file, so the base needs only the right label count.
//
// The folder appears whole or not at all: the files are written into a temporary folder
// beside dir (".NAME.tmp-*"), read back and checked to describe lo exactly, then
// renamed to dir. A dir that exists must be empty or a previous adapter (only the files
// save_pretrained writes, with an adapter_config.json): it is replaced, and a folder
// holding anything else is refused. Replacing takes two renames (the old folder moves
// aside to ".NAME.old-*", then is removed); a crash between them leaves dir missing and
// the old adapter in ".NAME.old-*". Leftovers of such crashes beside dir are removed on
// the next SavePEFT, so only one process may export into dir at a time.
func (lo *LoRA) SavePEFT(dir, baseModel string) error {
	if err := lo.exportable(); err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	cfg, err := lo.peftConfig(baseModel)
	if err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	if err := checkReplaceable(dir); err != nil {
		return err
	}
	parent, name := filepath.Split(filepath.Clean(dir))
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	removeLeftovers(parent, name)
	tmp, err := os.MkdirTemp(parent, "."+name+".tmp-")
	if err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := lo.writeAdapter(tmp, cfg); err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	if err := lo.checkExport(tmp); err != nil {
		return fmt.Errorf("lora: SavePEFT %s: the written adapter does not read back as this LoRA (a bug): %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes 0700
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	return replaceDir(tmp, dir, parent, name)
}

// exportable says why lo cannot be written as an adapter of the base model, if it
// cannot.
func (lo *LoRA) exportable() error {
	switch {
	case lo.model == nil:
		return fmt.Errorf("called before Apply (or FromPEFT)")
	case lo.merged:
		return fmt.Errorf("called after Merge: the adapters are folded into the base weights")
	case len(lo.loaded) > 0:
		return fmt.Errorf("the model carries base parameters from adapter %s (%s), which an adapter with bias \"none\" and the head as modules_to_save cannot hold", lo.peftDir, strings.Join(lo.loaded, ", "))
	}
	return nil
}

// peftConfig is adapter_config.json for lo, with every key peft 0.12.0's LoraConfig
// writes (auto_mapping aside, which PEFT adds for task_type null and which only
// AutoPeftModel reads).
func (lo *LoRA) peftConfig(baseModel string) (map[string]any, error) {
	targets, err := lo.targetModules()
	if err != nil {
		return nil, err
	}
	save, taskType, err := lo.headModules()
	if err != nil {
		return nil, err
	}
	ranks, alphas, err := lo.patterns()
	if err != nil {
		return nil, err
	}
	var modulesToSave any // null without a head
	if len(save) > 0 {
		modulesToSave = save
	}
	return map[string]any{
		"alpha_pattern":           alphas,
		"base_model_name_or_path": baseModel,
		"bias":                    "none",
		"fan_in_fan_out":          false,
		"inference_mode":          true,
		"init_lora_weights":       true,
		"layer_replication":       nil,
		"layers_pattern":          nil,
		"layers_to_transform":     nil,
		"loftq_config":            map[string]any{},
		"lora_alpha":              lo.cfg.Alpha,
		"lora_dropout":            lo.cfg.Dropout,
		"megatron_config":         nil,
		"megatron_core":           "megatron.core",
		"modules_to_save":         modulesToSave,
		"peft_type":               "LORA",
		"r":                       lo.cfg.R,
		"rank_pattern":            ranks,
		"revision":                nil,
		"target_modules":          targets,
		"task_type":               taskType,
		"use_dora":                false,
		"use_rslora":              lo.rslora,
	}, nil
}

// modules are the names of m's modules that hold parameters: the universe a
// target_modules entry must not over-select from.
func modules(m models.Model) []string {
	var out []string
	for _, p := range m.Params() {
		if i := strings.LastIndexByte(p.Name, '.'); i > 0 && !slices.Contains(out, p.Name[:i]) {
			out = append(out, p.Name[:i])
		}
	}
	return out
}

// targetModules names the adapted linears the way PEFT's configs do, by the shortest
// dotted suffix that selects no module lo leaves alone: "query" and "value" for BERT,
// "query_proj" for DeBERTa, "output.dense" for BERT's two output projections when
// both are adapted ("dense" alone would take the pooler). A module adapted only in
// some layers is named in full.
func (lo *LoRA) targetModules() ([]string, error) {
	adapted := map[string]bool{}
	for _, ly := range lo.layers {
		adapted[ly.linear.Name] = true
	}
	all := modules(lo.model)
	var out []string
	for _, ly := range lo.layers {
		parts := strings.Split(ly.linear.Name, ".")
		for k := len(parts) - 1; k >= 0; k-- {
			s := strings.Join(parts[k:], ".")
			if !slices.ContainsFunc(all, func(m string) bool { return selectsName(s, m) && !adapted[m] }) {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no adapted layer")
	}
	return out, nil
}

// selectsName is PEFT's test of one target_modules list entry against a module name.
func selectsName(entry, module string) bool {
	return module == entry || strings.HasSuffix(module, "."+entry)
}

// headModules returns the top-level modules holding the task head (modules_to_save:
// "classifier", "qa_outputs", DeBERTa's "pooler" and "classifier", ...) and the
// task_type PEFT knows the head by: "SEQ_CLS" for a text classifier, null otherwise.
// ViT: PEFT has no image-classification task type. A span head: peft 0.12.0's
// QUESTION_ANS model (PeftModelForQuestionAnswering.forward) drops token_type_ids, so
// BERT's context tokens would run as segment A; with null, PeftModel passes every input
// through, and modules_to_save alone restores qa_outputs.
// PEFT wraps every module whose name ends in a modules_to_save entry (a plain string
// suffix), and with SEQ_CLS also "classifier" and "score": none of these may hit a
// module of the base model or an adapted linear.
func (lo *LoRA) headModules() ([]string, any, error) {
	isHead := map[string]bool{}
	var save []string
	for _, p := range models.HeadParams(lo.model) {
		isHead[p.Name] = true
		top, _, _ := strings.Cut(p.Name, ".")
		if !slices.Contains(save, top) {
			save = append(save, top)
		}
	}
	var taskType any
	wrapped := slices.Clone(save)
	if _, text := lo.model.(models.SequenceClassifier); text && len(save) > 0 && !slices.Contains(save, "qa_outputs") {
		taskType = "SEQ_CLS"
		wrapped = append(wrapped, "classifier", "score")
	}
	for _, p := range lo.model.Params() {
		top, _, _ := strings.Cut(p.Name, ".")
		if !isHead[p.Name] && slices.Contains(save, top) {
			return nil, nil, fmt.Errorf("module %s holds head and base parameters (%s is not a head parameter); PEFT's modules_to_save saves whole modules", top, p.Name)
		}
	}
	for _, m := range modules(lo.model) {
		top, _, _ := strings.Cut(m, ".")
		for _, w := range wrapped {
			if strings.HasSuffix(m, w) && !slices.Contains(save, top) {
				return nil, nil, fmt.Errorf("PEFT would take module %s for the head module %q (modules_to_save matches name suffixes)", m, w)
			}
		}
	}
	return save, taskType, nil
}

// patterns returns rank_pattern and alpha_pattern: an entry for every layer whose r or
// lora_alpha differs from the config's (only an adapter read with FromPEFT has such
// layers). PEFT looks a module up as re.match(".*\.KEY$", name), so the key is the
// module's name without its first component, regexp-quoted. The scaling PEFT computes
// from the written r and alpha must equal the layer's, bit for bit.
func (lo *LoRA) patterns() (ranks, alphas map[string]any, err error) {
	ranks, alphas = map[string]any{}, map[string]any{}
	c := PEFTConfig{RSLoRA: lo.rslora}
	for _, ly := range lo.layers {
		r := ly.A.MustSize()[0]
		if c.Scaling(r, ly.alpha) != ly.scaling {
			return nil, nil, fmt.Errorf("%s: scaling %g is not lora_alpha/r = %g/%d as PEFT computes it", ly.linear.Name, ly.scaling, ly.alpha, r)
		}
		if r == lo.cfg.R && ly.alpha == lo.cfg.Alpha {
			continue
		}
		_, rest, ok := strings.Cut(ly.linear.Name, ".")
		if !ok {
			return nil, nil, fmt.Errorf("%s: r=%d lora_alpha=%g differ from the config's and a one-component module name cannot be a rank_pattern key", ly.linear.Name, r, ly.alpha)
		}
		key := regexp.QuoteMeta(rest)
		if r != lo.cfg.R {
			ranks[key] = r
		}
		if ly.alpha != lo.cfg.Alpha {
			alphas[key] = ly.alpha
		}
	}
	return ranks, alphas, nil
}

// writeAdapter writes the two files into dir.
func (lo *LoRA) writeAdapter(dir string, cfg map[string]any) error {
	tensors := map[string]*ts.Tensor{}
	for _, ly := range lo.layers {
		tensors[peftPrefix+ly.linear.Name+".lora_A.weight"] = ly.A.MustDetach(false)
		tensors[peftPrefix+ly.linear.Name+".lora_B.weight"] = ly.B.MustDetach(false)
	}
	for _, p := range models.HeadParams(lo.model) {
		tensors[peftPrefix+p.Name] = p.T.MustDetach(false)
	}
	defer func() {
		for _, t := range tensors {
			t.MustDrop()
		}
	}()
	if err := safetensors.Save(filepath.Join(dir, "adapter_model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	raw, err := marshalConfig(cfg)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "adapter_config.json"), raw)
}

// marshalConfig lays the config out as PEFT does (json.dumps(indent=2, sort_keys=True)),
// without Go's HTML escaping of <, > and &.
func marshalConfig(cfg map[string]any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// checkExport reads the written folder back with the loader and checks that it adapts
// exactly lo's layers with their ranks and scalings, and restores exactly the head.
func (lo *LoRA) checkExport(dir string) error {
	a, err := readPEFT(dir, lo.model)
	if err != nil {
		return err
	}
	if len(a.layers) != len(lo.layers) {
		return fmt.Errorf("%d layers adapted, this LoRA has %d", len(a.layers), len(lo.layers))
	}
	for i, pl := range a.layers {
		ly := lo.layers[i]
		if pl.linear != ly.linear || pl.r != ly.A.MustSize()[0] || pl.scaling != ly.scaling {
			return fmt.Errorf("%s r=%d scaling %g read back as %s r=%d scaling %g", ly.linear.Name, ly.A.MustSize()[0], ly.scaling, pl.linear.Name, pl.r, pl.scaling)
		}
	}
	head := models.HeadParams(lo.model)
	if len(a.params) != len(head) {
		return fmt.Errorf("%d model parameters restored, the head has %d", len(a.params), len(head))
	}
	for _, p := range head {
		if _, ok := a.params[p.Name]; !ok {
			return fmt.Errorf("head parameter %s is not restored", p.Name)
		}
	}
	return nil
}

// checkReplaceable refuses a dir that exists and is not an empty folder or a PEFT
// adapter folder.
func checkReplaceable(dir string) error {
	info, err := os.Stat(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("lora: SavePEFT %s: exists and is not a folder; refusing to replace it", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	var names, foreign []string
	for _, e := range entries {
		names = append(names, e.Name())
		if e.IsDir() || !slices.Contains(adapterFiles, e.Name()) {
			foreign = append(foreign, e.Name())
		}
	}
	switch {
	case len(foreign) > 0:
		return fmt.Errorf("lora: SavePEFT %s: the folder holds %s, which is not part of a PEFT adapter (%s); refusing to replace it", dir, strings.Join(foreign, ", "), strings.Join(adapterFiles, ", "))
	case len(names) > 0 && !slices.Contains(names, "adapter_config.json"):
		return fmt.Errorf("lora: SavePEFT %s: the folder holds %s but no adapter_config.json, so it is not a PEFT adapter; refusing to replace it", dir, strings.Join(names, ", "))
	}
	return nil
}

// removeLeftovers removes the temporary and set-aside folders of an earlier SavePEFT
// into parent/name that a crash left behind.
func removeLeftovers(parent, name string) {
	for _, kind := range []string{".tmp-", ".old-"} {
		matches, _ := filepath.Glob(filepath.Join(parent, "."+escapeGlob(name)+kind+"*"))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
}

func escapeGlob(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s)
}

// replaceDir renames the finished tmp to dir, moving an existing dir aside first and
// removing it after; if the second rename fails the old folder is put back.
func replaceDir(tmp, dir, parent, name string) error {
	var old string
	if _, err := os.Stat(dir); err == nil {
		aside, err := os.MkdirTemp(parent, "."+name+".old-")
		if err != nil {
			return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
		}
		old = filepath.Join(aside, name)
		if err := os.Rename(dir, old); err != nil {
			os.Remove(aside)
			return fmt.Errorf("lora: SavePEFT %s: moving the previous adapter aside: %w", dir, err)
		}
		defer os.RemoveAll(aside)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return fmt.Errorf("lora: SavePEFT %s: %w", dir, err)
	}
	if d, err := os.Open(parent); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}
