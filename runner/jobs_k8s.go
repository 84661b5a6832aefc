package main

import (
	"fmt"
	"strconv"
	"strings"
)

// k8sDataMount is where the pods mount the -pvc volume; it is also their working
// folder, so -out and a plan file are paths relative to the volume.
const k8sDataMount = "/data"

// yq quotes a scalar for YAML (a JSON string is a valid YAML double-quoted scalar).
func yq(s string) string { return strconv.Quote(s) }

// k8sJobYAML is a batch/v1 Indexed Job: completion index k (0-based, in
// JOB_COMPLETION_INDEX) runs shard k+1 of N into OUT/shard-(k+1) on the volume.
func k8sJobYAML(o jobsOptions) string {
	cmd := fmt.Sprintf(`i=$((JOB_COMPLETION_INDEX + 1)); mkdir -p %[1]s/shard-$i; exec %[2]s -plan %[3]s -shard "$i/%[4]d" -out %[1]s/shard-$i`,
		shq(o.Out), shq(o.Binary), shq(o.Plan), o.Shards)
	return fmt.Sprintf(`# Plan %[1]s in %[2]d shards as a Kubernetes Indexed Job, written by runner jobs -engine k8s.
# Pod k (JOB_COMPLETION_INDEX, from 0) runs shard k+1/%[2]d into %[3]s/%[4]s/shard-(k+1) on the
# volume (PVC %[5]s, mounted at %[3]s with the HF cache in %[3]s/hf-cache). A pod that
# fails or whose node is lost is replaced (backoffLimit); the new pod skips the runs whose
# record exists and resumes the interrupted run from its checkpoint.
# Submit:  kubectl apply -f job.yaml
#          kubectl wait --for=condition=complete --timeout=-1s job/%[6]s
#          kubectl apply -f merge.yaml   # merge + report into %[4]s/merged
apiVersion: batch/v1
kind: Job
metadata:
  name: %[6]s
%[7]s  labels:
    app.kubernetes.io/name: vectorfit-harness
    app.kubernetes.io/component: shards
spec:
  completionMode: Indexed
  completions: %[2]d
  parallelism: %[2]d
  backoffLimit: %[8]d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: vectorfit-harness
        app.kubernetes.io/component: shards
    spec:
      restartPolicy: Never
      activeDeadlineSeconds: %[9]d
      containers:
        - name: runner
          image: %[10]s
          workingDir: %[3]s
          command: ["/bin/sh", "-c"]
          args:
            - %[11]s
%[12]s          volumeMounts:
            - name: data
              mountPath: %[3]s
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: %[5]s
`, o.Plan, o.Shards, k8sDataMount, o.Out, yq(o.PVC), o.Name, k8sNamespace(o), max(6, 3*o.Shards),
		k8sDeadline(o), yq(o.Image), yq(cmd), k8sEnvAndResources(o, o.CPUs, o.GPUs, o.Mem))
}

// k8sMergeYAML is a one-pod Job that merges the shards and writes the report; apply it
// once the Indexed Job is complete.
func k8sMergeYAML(o jobsOptions) string {
	cmd := fmt.Sprintf(`set -e; %[1]s; mkdir -p %[3]s/merged; %[2]s merge -in "$in" -out %[3]s/merged; %[2]s report -in %[3]s/merged > %[3]s/merged/report.md; cat %[3]s/merged/report.md`,
		strings.ReplaceAll(shardsList(o.Out, o.Shards), "\n", "; "), shq(o.Binary), shq(o.Out))
	return fmt.Sprintf(`# Merge of plan %[1]s: apply after job/%[2]s is complete (see job.yaml).
apiVersion: batch/v1
kind: Job
metadata:
  name: %[2]s-merge
%[3]s  labels:
    app.kubernetes.io/name: vectorfit-harness
    app.kubernetes.io/component: merge
spec:
  completions: 1
  parallelism: 1
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: merge
          image: %[4]s
          workingDir: %[5]s
          command: ["/bin/sh", "-c"]
          args:
            - %[6]s
%[7]s          volumeMounts:
            - name: data
              mountPath: %[5]s
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: %[8]s
`, o.Plan, dnsLabel(o.Name[:min(len(o.Name), 57)]), k8sNamespace(o), yq(o.Image), k8sDataMount, yq(cmd),
		k8sEnvAndResources(o, 1, 0, "1024M"), yq(o.PVC))
}

func k8sNamespace(o jobsOptions) string {
	if o.Namespace == "" {
		return ""
	}
	return "  namespace: " + o.Namespace + "\n"
}

// k8sDeadline is the per-pod time limit from -time.
func k8sDeadline(o jobsOptions) int64 {
	s, _ := slurmSeconds(o.Time)
	return s
}

// k8sEnvAndResources is the container's env (caches on the volume) and resources:
// memory as requested and limited, CPUs requested, GPUs as nvidia.com/gpu limits
// (an extended resource is given in limits; requests default to them).
func k8sEnvAndResources(o jobsOptions, cpus, gpus int, mem string) string {
	mb, _ := slurmMemMB(mem)
	var b strings.Builder
	fmt.Fprintf(&b, `          env:
            - name: HF_HOME
              value: %[1]s/hf-cache
            - name: XDG_CACHE_HOME
              value: %[1]s/cache
          resources:
            requests:
              cpu: "%[2]d"
              memory: %[3]dMi
            limits:
              memory: %[3]dMi
`, k8sDataMount, cpus, mb)
	if gpus > 0 {
		fmt.Fprintf(&b, "              nvidia.com/gpu: \"%d\"\n", gpus)
	}
	return b.String()
}
