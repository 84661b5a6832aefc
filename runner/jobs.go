package main

// runner jobs writes the job definitions that run a plan on a cluster engine the
// researcher already has: a Slurm job array (one array task per shard, plus a merge job
// that waits for all of them) or a Kubernetes Indexed Job (one completion index per
// shard). Nothing is scheduled here: every shard is an ordinary `runner -plan P -shard
// i/n` call, and a shard that is started again (Slurm requeue, a replaced pod) skips the
// runs whose record exists and resumes the one it was in from its checkpoint.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// jobsOptions are the flags of `runner jobs`.
type jobsOptions struct {
	Plan      string // built-in plan name or plan file
	Engine    string // slurm or k8s
	Shards    int
	Out       string // results folder: shard-i/ per shard and merged/
	Dir       string // where the job files go (default Out/jobs)
	Binary    string // the prebuilt runner binary the jobs call
	Partition string
	GPUs      int
	Mem       string // Slurm form: 16G, 500M, 8000 (MB)
	Time      string // Slurm form: minutes, HH:MM:SS, D-HH[:MM[:SS]]
	CPUs      int
	LogDir    string
	Name      string // job name
	// Kubernetes only.
	Image     string
	PVC       string
	Namespace string
}

func parseJobsOptions(args []string, stderr io.Writer) (jobsOptions, error) {
	var o jobsOptions
	fs := flag.NewFlagSet("runner jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Plan, "plan", "", "built-in plan name or plan file (YAML/JSON)")
	fs.StringVar(&o.Engine, "engine", "slurm", "slurm (sbatch job array) or k8s (Indexed Job)")
	fs.IntVar(&o.Shards, "shards", 0, "number of shards: array tasks (slurm) or completions (k8s)")
	fs.StringVar(&o.Out, "out", "results", "results folder: shard-i/ per shard, merged/ after the merge (k8s: relative to the volume)")
	fs.StringVar(&o.Dir, "dir", "", "where to write the job files (default OUT/jobs)")
	fs.StringVar(&o.Binary, "binary", "", "prebuilt runner binary the jobs run (slurm: default this binary unless it comes from go run; k8s: default runner on the image's PATH)")
	fs.StringVar(&o.Partition, "partition", "", "Slurm partition (default: the cluster's default)")
	fs.IntVar(&o.GPUs, "gpus", 0, "GPUs per shard (slurm --gres=gpu:G, k8s nvidia.com/gpu)")
	fs.StringVar(&o.Mem, "mem", "16G", "memory per shard, Slurm form: 16G, 500M, 8000 (MB)")
	fs.StringVar(&o.Time, "time", "24:00:00", "time limit per shard, Slurm form: MINUTES, HH:MM:SS or D-HH:MM:SS")
	fs.IntVar(&o.CPUs, "cpus", 4, "CPUs per shard")
	fs.StringVar(&o.LogDir, "log-dir", "", "slurm: folder of the per-task logs (default OUT/logs)")
	fs.StringVar(&o.Name, "name", "", "job name (default vectorfit-PLAN)")
	fs.StringVar(&o.Image, "image", "", "k8s: container image holding the runner binary and libtorch")
	fs.StringVar(&o.PVC, "pvc", "", "k8s: PersistentVolumeClaim mounted at /data for results and the HF cache")
	fs.StringVar(&o.Namespace, "namespace", "", "k8s: namespace (default: kubectl's current one)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("runner jobs: unexpected argument %q (flags only)", fs.Arg(0))
	}
	return o, o.check()
}

// check rejects what would only fail later on the cluster, naming the flag.
func (o *jobsOptions) check() error {
	if o.Plan == "" {
		return errors.New("runner jobs: -plan is required (a built-in plan name or a plan file)")
	}
	if o.Shards < 1 {
		return fmt.Errorf("runner jobs: -shards %d: want a count of 1 or more", o.Shards)
	}
	if o.GPUs < 0 || o.CPUs < 1 {
		return fmt.Errorf("runner jobs: -gpus %d -cpus %d: want gpus >= 0 and cpus >= 1", o.GPUs, o.CPUs)
	}
	if _, err := slurmMemMB(o.Mem); err != nil {
		return err
	}
	if _, err := slurmSeconds(o.Time); err != nil {
		return err
	}
	if o.Name == "" {
		o.Name = "vectorfit-" + o.Plan
	}
	o.Name = dnsLabel(o.Name)
	if o.Name == "" {
		return errors.New("runner jobs: -name: no letter or digit left for a job name")
	}
	// A plan file is passed to the jobs by absolute path (the nodes share the file
	// system); a built-in plan by its name.
	if strings.ContainsAny(o.Plan, "/.") {
		if _, err := os.Stat(o.Plan); err != nil {
			return fmt.Errorf("runner jobs: -plan %s: %w", o.Plan, err)
		}
	}
	switch o.Engine {
	case "slurm":
		return o.checkSlurm()
	case "k8s", "kubernetes":
		o.Engine = "k8s"
		return o.checkK8s()
	}
	return fmt.Errorf("runner jobs: -engine %q: want slurm or k8s", o.Engine)
}

func (o *jobsOptions) checkSlurm() error {
	var err error
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return err
	}
	if strings.ContainsAny(o.Plan, "/.") {
		if o.Plan, err = filepath.Abs(o.Plan); err != nil {
			return err
		}
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(o.Out, "logs")
	}
	if o.LogDir, err = filepath.Abs(o.LogDir); err != nil {
		return err
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(o.Out, "jobs")
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("runner jobs: -binary not given and this binary's path is unknown (%v)", err)
		}
		if strings.Contains(exe, string(filepath.Separator)+"go-build") {
			return fmt.Errorf("runner jobs: -binary not given and this runner comes from go run (%s, deleted on exit); build it once with `go build -o bin/runner ./runner` and pass -binary bin/runner", exe)
		}
		o.Binary = exe
	}
	if o.Binary, err = filepath.Abs(o.Binary); err != nil {
		return err
	}
	if st, err := os.Stat(o.Binary); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("runner jobs: -binary %s: not an executable file (build it with `go build -o bin/runner ./runner`)", o.Binary)
	}
	// #SBATCH lines take no quotes, and % starts a Slurm file-name pattern.
	for flag, p := range map[string]string{"-out": o.Out, "-log-dir": o.LogDir} {
		if strings.ContainsAny(p, " \t\n%'\"") {
			return fmt.Errorf("runner jobs: %s %q: a Slurm path cannot hold spaces, quotes or %%", flag, p)
		}
	}
	if o.Partition != "" && !regexp.MustCompile(`^[A-Za-z0-9_.,-]+$`).MatchString(o.Partition) {
		return fmt.Errorf("runner jobs: -partition %q: want a Slurm partition name (letters, digits, _ . , -)", o.Partition)
	}
	return nil
}

func (o *jobsOptions) checkK8s() error {
	if o.Image == "" {
		return errors.New("runner jobs: -engine k8s needs -image (a container image with the runner binary and libtorch)")
	}
	if o.PVC == "" {
		return errors.New("runner jobs: -engine k8s needs -pvc (a PersistentVolumeClaim for results and the HF cache)")
	}
	if filepath.IsAbs(o.Out) || strings.HasPrefix(filepath.Clean(o.Out), "..") {
		return fmt.Errorf("runner jobs: -out %s: with -engine k8s, a folder relative to the volume (mounted at %s)", o.Out, k8sDataMount)
	}
	o.Out = filepath.ToSlash(filepath.Clean(o.Out))
	if strings.ContainsAny(o.Plan, "/.") {
		// The pod sees the plan file on the volume, as given relative to it.
		if filepath.IsAbs(o.Plan) {
			return fmt.Errorf("runner jobs: -plan %s: with -engine k8s, a built-in plan or a file relative to the volume (copy it there)", o.Plan)
		}
	}
	if o.Binary == "" {
		o.Binary = "runner"
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(o.Out, "jobs")
	}
	if o.Namespace != "" && dnsLabel(o.Namespace) != o.Namespace {
		return fmt.Errorf("runner jobs: -namespace %q: want a DNS label (lower-case letters, digits, -)", o.Namespace)
	}
	return nil
}

// jobsCmd is `runner jobs`: it writes the job files and says how to submit them.
func jobsCmd(args []string, stdout, stderr io.Writer) error {
	o, err := parseJobsOptions(args, stderr)
	if err != nil {
		return err
	}
	var files map[string]string
	var order []string
	var how string
	switch o.Engine {
	case "slurm":
		files = map[string]string{
			"shards.sbatch": slurmArrayScript(o),
			"merge.sbatch":  slurmMergeScript(o),
			"submit.sh":     slurmSubmitScript(o),
		}
		order = []string{"shards.sbatch", "merge.sbatch", "submit.sh"}
		how = fmt.Sprintf("submit: bash %s", filepath.Join(o.Dir, "submit.sh"))
	case "k8s":
		files = map[string]string{"job.yaml": k8sJobYAML(o), "merge.yaml": k8sMergeYAML(o)}
		order = []string{"job.yaml", "merge.yaml"}
		how = fmt.Sprintf("submit: kubectl apply -f %s; kubectl wait --for=condition=complete --timeout=-1s job/%s; kubectl apply -f %s",
			filepath.Join(o.Dir, "job.yaml"), o.Name, filepath.Join(o.Dir, "merge.yaml"))
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("runner jobs: -dir: %w", err)
	}
	for _, name := range order {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".sbatch") {
			mode = 0o755
		}
		p := filepath.Join(o.Dir, name)
		if err := os.WriteFile(p, []byte(files[name]), mode); err != nil {
			return fmt.Errorf("runner jobs: %w", err)
		}
		fmt.Fprintln(stdout, "wrote", p)
	}
	fmt.Fprintln(stdout, how)
	return nil
}

// slurmMemMB reads a Slurm --mem value (a count with an optional K, M, G or T suffix;
// no suffix means megabytes) into megabytes.
func slurmMemMB(s string) (int64, error) {
	m := regexp.MustCompile(`^([0-9]+)([KMGT]?)$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("runner jobs: -mem %q: want a Slurm memory size such as 16G, 500M or 8000 (megabytes)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("runner jobs: -mem %q: want a size above zero", s)
	}
	switch m[2] {
	case "K":
		return max(n/1024, 1), nil
	case "G":
		return n * 1024, nil
	case "T":
		return n * 1024 * 1024, nil
	}
	return n, nil
}

// slurmSeconds reads a Slurm --time value: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS,
// DAYS-HOURS, DAYS-HOURS:MINUTES or DAYS-HOURS:MINUTES:SECONDS (sbatch(1)).
func slurmSeconds(s string) (int64, error) {
	bad := fmt.Errorf("runner jobs: -time %q: want a Slurm time limit: MINUTES, HH:MM:SS or D-HH:MM:SS", s)
	num := func(p string) (int64, bool) {
		n, err := strconv.ParseInt(p, 10, 64)
		return n, err == nil && n >= 0 && p != "" && !strings.HasPrefix(p, "+")
	}
	days := int64(0)
	rest := s
	if d, r, ok := strings.Cut(s, "-"); ok {
		n, ok := num(d)
		if !ok {
			return 0, bad
		}
		days, rest = n, r
	}
	parts := strings.Split(rest, ":")
	if len(parts) > 3 {
		return 0, bad
	}
	var v [3]int64
	for i, p := range parts {
		n, ok := num(p)
		if !ok {
			return 0, bad
		}
		v[i] = n
	}
	var sec int64
	switch {
	case days > 0 && len(parts) == 1: // D-HH
		sec = v[0] * 3600
	case days > 0 && len(parts) == 2: // D-HH:MM
		sec = v[0]*3600 + v[1]*60
	case len(parts) == 1: // MM
		sec = v[0] * 60
	case len(parts) == 2: // MM:SS
		sec = v[0]*60 + v[1]
	default: // HH:MM:SS
		sec = v[0]*3600 + v[1]*60 + v[2]
	}
	sec += days * 86400
	if sec == 0 {
		return 0, fmt.Errorf("runner jobs: -time %q: want a limit above zero", s)
	}
	return sec, nil
}

// dnsLabel turns a name into an RFC 1123 label (Kubernetes object names; also a tidy
// Slurm job name): lower case, [a-z0-9-], at most 63 characters, no leading or trailing '-'.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := regexp.MustCompile(`-+`).ReplaceAllString(b.String(), "-")
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-")
}

// shq quotes a word for a POSIX shell.
func shq(s string) string {
	if s != "" && regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
