package bdb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Config is what DB_CONFIG says about where an environment's files live. Paths are as written: relative
// ones are relative to the environment directory.
type Config struct {
	LogDir   string   // set_lg_dir
	DataDirs []string // set_data_dir, add_data_dir
	TmpDir   string   // set_tmp_dir
}

// ReadConfig reads envDir/DB_CONFIG; a missing file is an empty Config.
func ReadConfig(envDir string) (Config, error) {
	f, err := os.Open(filepath.Join(envDir, "DB_CONFIG"))
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	c, err := ParseConfig(f)
	if err != nil {
		return c, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return c, nil
}

// ParseConfig parses the directives of a DB_CONFIG file that say where files live; the others are
// ignored, as are comments (#) and blank lines.
func ParseConfig(r io.Reader) (Config, error) {
	var c Config
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.Fields(line)[0]
		arg := strings.TrimSpace(line[len(name):])
		switch name {
		case "set_lg_dir":
			c.LogDir = arg
		case "set_data_dir", "add_data_dir":
			if arg != "" {
				c.DataDirs = append(c.DataDirs, arg)
			}
		case "set_tmp_dir":
			c.TmpDir = arg
		}
	}
	return c, sc.Err()
}
