package hotbackup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
)

// fakeEngine is an engine with logs named log.N whose utilities only note that they ran.
type fakeEngine struct {
	engine.Engine
	calls    *[]string
	inactive []string
}

func (f fakeEngine) Name() string { return "fake" }

func (f fakeEngine) LogNumber(rel string) (uint32, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(rel, "log."), 10, 32)
	return uint32(n), strings.HasPrefix(rel, "log.") && err == nil
}

func (f fakeEngine) Logs(dir string) ([]engine.LogFile, error) {
	m, err := filepath.Glob(filepath.Join(dir, "log.*"))
	var logs []engine.LogFile
	for i, p := range m {
		logs = append(logs, engine.LogFile{Rel: filepath.Base(p), Number: uint32(i + 1)})
	}
	return logs, err
}

func (f fakeEngine) RemoveRegions(string) ([]string, error) { return nil, nil }

func (f fakeEngine) Recover(_ context.Context, dir string, catastrophic bool) (engine.RecoveryReport, error) {
	*f.calls = append(*f.calls, "recover")
	return engine.RecoveryReport{Catastrophic: catastrophic}, nil
}

func (f fakeEngine) Checkpoint(context.Context, string) error {
	*f.calls = append(*f.calls, "checkpoint")
	return nil
}

func (f fakeEngine) DatabaseFiles(context.Context, string) ([]string, error) { return nil, nil }

func (f fakeEngine) InactiveLogs(context.Context, string) ([]string, error) {
	*f.calls = append(*f.calls, "inactive logs")
	return f.inactive, nil
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRun_StepsInOrderLogsAfterDatabaseFiles checks the routine's invariant: the session's start
// copies the database files without the logs; the logs follow, the inactive ones then leave the
// primary; the record says NeedsRecovery unless recovery ran; the archive copies the mirror last.
func TestRun_StepsInOrderLogsAfterDatabaseFiles(t *testing.T) {
	for _, recover := range []bool{false, true} {
		base := t.TempDir()
		primary, target, archive := filepath.Join(base, "primary"), filepath.Join(base, "mirror"), filepath.Join(base, "archive")
		if err := os.Mkdir(primary, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(primary, "data.db"), "pages")
		write(t, filepath.Join(primary, "log.1"), "old log")
		write(t, filepath.Join(primary, "log.2"), "active log")
		var calls []string
		eng := fakeEngine{calls: &calls, inactive: []string{"log.1"}}
		pair, err := mirror.CheckPair(primary, target)
		if err != nil {
			t.Fatal(err)
		}
		s, err := mirror.Start(context.Background(), pair, mirror.StartOptions{
			Holder: lock.Holder{PID: os.Getpid(), Command: "test"},
			Policy: mirror.PolicyFunc(func(string) bool { return true }),
			Skip:   SkipLogs(eng),
			Mirror: mirror.Options{Logs: eng.LogNumber},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(target, "log.2")); !os.IsNotExist(err) {
			t.Fatalf("the start copied a log before the routine's log step: %v", err)
		}
		var steps []string
		rep, err := Run(context.Background(), s, eng, eng, Options{
			Checkpoint: true, Recover: recover, Archive: archive,
			Step: func(name string) { steps = append(steps, name) },
		})
		if serr := s.Stop(); err == nil {
			err = serr
		}
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"checkpoint", "inactive logs"}
		if recover {
			want = append(want, "recover")
		}
		if !slices.Equal(calls, want) {
			t.Errorf("recover=%v: engine calls %q, want %q", recover, calls, want)
		}
		if len(steps) != len(want)+1 || !strings.HasPrefix(steps[len(steps)-1], "copying the mirror to ") {
			t.Errorf("recover=%v: steps %q", recover, steps)
		}
		if _, err := os.Stat(filepath.Join(primary, "log.1")); !os.IsNotExist(err) {
			t.Errorf("the inactive log is still on the primary: %v", err)
		}
		for _, rel := range []string{"data.db", "log.1", "log.2"} {
			for _, dir := range []string{target, archive} {
				if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
					t.Errorf("%s: %v", rel, err)
				}
			}
		}
		if rep.LogsCopied != 2 || rep.LogsMoved != 1 || rep.Recovered != recover || rep.Archive != archive {
			t.Errorf("recover=%v: report %+v", recover, rep)
		}
		rec, _, err := meta.ReadRecord(target)
		if err != nil {
			t.Fatal(err)
		}
		if rec.NeedsRecovery == recover {
			t.Errorf("recover=%v: the record says NeedsRecovery=%v", recover, rec.NeedsRecovery)
		}
		for _, name := range []string{meta.IdentityFile, meta.RecordFile} {
			if _, err := os.Stat(meta.Path(archive, name)); !os.IsNotExist(err) {
				t.Errorf("the archive holds the mirror's metadata %s: %v", name, err)
			}
		}
		if rec, ok, err := readArchiveRecord(archive); err != nil || !ok || rec.PrimaryID != s.Identity.ID {
			t.Errorf("the archive's record: %+v, %v, %v; want the primary's id %s", rec, ok, err, s.Identity.ID)
		}
	}
}
