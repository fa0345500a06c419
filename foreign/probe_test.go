package foreign

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	w, err := Watch(dir, func(c Change) { t.Logf("%+v ops=%s", c, c.Ops) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root %s", w.root)
	cmd := exec.Command("sh", "-c", "echo x > f; mkdir d; mv f d/g; chmod 700 d; chmod 700 .; touch d/g; rm d/g; rmdir d")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	time.Sleep(300 * time.Millisecond)
	w.Close()
	_ = os.Getpid
}
