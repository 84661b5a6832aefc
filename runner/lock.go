package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockName is the lock file a runner holds in its -out folder while it trains: two
// runners writing one folder would interleave seeds of different settings.
const lockName = ".runner.lock"

// lockInfo is the lock file's content: who holds it.
type lockInfo struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Command []string  `json:"command"`
}

// lockOut takes dir's lock, or says which process holds it. A lock whose process is
// gone (same host, no such pid) is stale: it is removed, with a line on log.
func lockOut(dir string, log func(string, ...any)) (release func(), err error) {
	path := filepath.Join(dir, lockName)
	host, _ := os.Hostname()
	me := lockInfo{PID: os.Getpid(), Host: host, Started: time.Now(), Command: os.Args}
	raw, _ := json.Marshal(me)
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(raw)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, fmt.Errorf("-out %s: writing the lock %s: %w", dir, path, werr)
			}
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("-out %s: cannot create the lock %s: %w", dir, path, err)
		}
		held, err := readLock(path)
		if err != nil {
			return nil, err
		}
		if held.Host != host || alive(held.PID) {
			return nil, fmt.Errorf("-out %s is in use by runner process %d on %s since %s (%v): wait for it, or use another -out; if that process is gone, remove %s",
				dir, held.PID, held.Host, held.Started.Format(time.RFC3339), held.Command, path)
		}
		log("removing the stale lock %s of process %d (no longer running)\n", path, held.PID)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("-out %s: another runner took the lock %s while a stale one was removed", dir, path)
}

func readLock(path string) (lockInfo, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return lockInfo{}, err
	}
	var l lockInfo
	if err := json.Unmarshal(raw, &l); err != nil || l.PID <= 0 {
		return lockInfo{}, fmt.Errorf("%s is not a runner lock (%d bytes): remove it if no runner uses this -out", path, len(raw))
	}
	return l, nil
}

// alive says whether a process with this pid exists on this host (signal 0 checks
// without sending; EPERM means it exists under another user).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
