package recovery

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestRecovery_UsesOnlyItsNarrowAPI keeps what the package documentation says recovery needs of the
// others: engine, meta, lock and host as a whole, and nothing of package mirror (never a Mirror or a
// mount).
func TestRecovery_UsesOnlyItsNarrowAPI(t *testing.T) {
	const module = "github.com/mirrorctl/mirrorctl/"
	allowed := map[string]map[string]bool{
		"engine": nil, // all of it: the interface recovery drives
		"lock":   nil,
		"host":   nil,
		"meta":   nil,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]string{} // local name -> package path below the module
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			if _, ok := allowed[rel]; !ok {
				t.Errorf("%s imports %s: recovery uses only engine, meta, lock and host", name, p)
				continue
			}
			local := filepath.Base(rel)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			ours[local] = rel
		}
		var extra []string
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if rel, ok := ours[id.Name]; ok && allowed[rel] != nil && !allowed[rel][sel.Sel.Name] {
				extra = append(extra, fmt.Sprintf("%s.%s (%s)", id.Name, sel.Sel.Name, fset.Position(sel.Pos())))
			}
			return true
		})
		sort.Strings(extra)
		for _, e := range extra {
			t.Errorf("%s uses %s: not in the narrow API of the package documentation", name, e)
		}
	}
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}
