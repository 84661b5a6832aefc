package main

import (
	"fmt"
	"strings"
)

// The job files are plain text made here (not by a Kubernetes or Slurm library), so the
// tests can check them against the engines themselves: the sbatch script runs on a real
// Slurm (scripts/slurm-test.sh) and the Job YAML is decoded strictly into the Kubernetes
// API types (jobs_k8s_test.go).

// shardsList is a POSIX sh loop that sets $in to OUT/shard-1,...,OUT/shard-N.
func shardsList(out string, n int) string {
	return fmt.Sprintf(`in=""; i=1
while [ "$i" -le %d ]; do in="$in${in:+,}%s/shard-$i"; i=$((i + 1)); done`, n, shq(out))
}

// slurmArrayScript is the job array: array task i runs shard i/N into OUT/shard-i.
func slurmArrayScript(o jobsOptions) string {
	mb, _ := slurmMemMB(o.Mem)
	var b strings.Builder
	fmt.Fprintf(&b, `#!/usr/bin/env bash
# Plan %[1]s in %[2]d shards: Slurm array task i runs shard i/%[2]d into %[3]s/shard-i.
# Written by: runner jobs -engine slurm (submit with submit.sh beside this file, which
# also queues merge.sbatch after every task ended with exit 0).
#
# --requeue: when a node fails (or the task is preempted) Slurm starts the task again;
# the runner then skips the runs whose record is in %[3]s/shard-i and resumes the
# interrupted run from its checkpoint, so a requeued shard continues where it stopped.
#SBATCH --job-name=%[4]s
#SBATCH --array=1-%[2]d
#SBATCH --cpus-per-task=%[5]d
#SBATCH --mem=%[6]dM
#SBATCH --time=%[7]s
#SBATCH --output=%[8]s/%%x_%%A_%%a.out
#SBATCH --error=%[8]s/%%x_%%A_%%a.err
#SBATCH --open-mode=append
#SBATCH --requeue
`, o.Plan, o.Shards, o.Out, o.Name, o.CPUs, mb, o.Time, o.LogDir)
	if o.GPUs > 0 {
		fmt.Fprintf(&b, "#SBATCH --gres=gpu:%d\n", o.GPUs)
	}
	if o.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", o.Partition)
	}
	fmt.Fprintf(&b, `set -euo pipefail
i="${SLURM_ARRAY_TASK_ID:?submit this script with sbatch: it is a job array}"
out=%[1]s/shard-$i
mkdir -p "$out"
echo "$(date -u +%%FT%%TZ) shard $i/%[2]d of plan %[3]s on $(hostname) (job ${SLURM_ARRAY_JOB_ID:-?}_$i, restart ${SLURM_RESTART_COUNT:-0})"
# exec: the runner gets Slurm's SIGTERM itself (time limit, scancel, preemption) and
# checkpoints the current run before it exits.
exec %[4]s -plan %[5]s -shard "$i/%[2]d" -out "$out"
`, shq(o.Out), o.Shards, o.Plan, shq(o.Binary), shq(o.Plan))
	return b.String()
}

// slurmMergeScript merges the shards' records into OUT/merged and writes the report.
func slurmMergeScript(o jobsOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/usr/bin/env bash
# Merge of plan %[1]s: runs after every array task of shards.sbatch ended with exit 0
# (submit.sh queues it with --dependency=afterok:<array job>). Run it by hand the same
# way (bash merge.sbatch) if some shards were rerun outside Slurm.
#SBATCH --job-name=%[2]s-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=1024M
#SBATCH --time=1:00:00
#SBATCH --output=%[3]s/%%x_%%j.out
`, o.Plan, o.Name, o.LogDir)
	if o.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", o.Partition)
	}
	fmt.Fprintf(&b, `set -euo pipefail
%[1]s
mkdir -p %[3]s/merged
%[2]s merge -in "$in" -out %[3]s/merged
%[2]s report -in %[3]s/merged > %[3]s/merged/report.md
cat %[3]s/merged/report.md
`, shardsList(o.Out, o.Shards), shq(o.Binary), shq(o.Out))
	return b.String()
}

// slurmSubmitScript queues the array and the merge job that depends on it.
func slurmSubmitScript(o jobsOptions) string {
	return fmt.Sprintf(`#!/usr/bin/env bash
# Submits plan %[1]s: the job array (%[2]d shards) and the merge job, which Slurm starts
# only when every array task ended with exit 0 (afterok). Prints "array=ID merge=ID".
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
mkdir -p %[3]s %[4]s
array=$(sbatch --parsable "$dir/shards.sbatch")
array=${array%%%%;*} # --parsable prints ID or ID;CLUSTER
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes "$dir/merge.sbatch")
merge=${merge%%%%;*}
echo "array=$array merge=$merge"
echo "watch: squeue -j $array,$merge   logs: %[3]s   table: %[4]s/merged/report.md" >&2
`, o.Plan, o.Shards, shq(o.LogDir), shq(o.Out))
}
