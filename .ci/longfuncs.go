//go:build ignore

// longfuncs fails when a function outside tests and generated code is longer than 100
// lines and its doc comment has no sentence beginning "long:" that says why. Run from
// the repository root: go run .ci/longfuncs.go [DIR...] (default: the tracked Go files).
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

const maxLines = 100

// generated is the marker of generated files (https://go.dev/s/generatedcode).
var generated = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// longReason matches a sentence of the doc comment that begins "long:".
var longReason = regexp.MustCompile(`(^|[.!?]\s+|\n)long:\s*\S`)

func main() {
	files, err := goFiles(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "longfuncs:", err)
		os.Exit(2)
	}
	var bad []string
	for _, f := range files {
		found, err := check(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "longfuncs:", err)
			os.Exit(2)
		}
		bad = append(bad, found...)
	}
	sort.Strings(bad)
	for _, b := range bad {
		fmt.Println(b)
	}
	if len(bad) > 0 {
		fmt.Printf("longfuncs: %d functions over %d lines without a \"long:\" reason in their doc comment\n", len(bad), maxLines)
		os.Exit(1)
	}
}

// goFiles lists the non-test Go files: the ones git tracks, or those under dirs.
func goFiles(dirs []string) ([]string, error) {
	var all []string
	if len(dirs) == 0 {
		out, err := exec.Command("git", "ls-files", "*.go").Output()
		if err != nil {
			return nil, fmt.Errorf("git ls-files: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			all = append(all, sc.Text())
		}
	}
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(p, ".go") {
				all = append(all, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	var out []string
	for _, f := range all {
		if !strings.HasSuffix(f, "_test.go") {
			out = append(out, f)
		}
	}
	return out, nil
}

// check reports the long functions of one file without a reason.
func check(path string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if generated.Match(src) {
		return nil, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
		if n <= maxLines || (fn.Doc != nil && longReason.MatchString(fn.Doc.Text())) {
			continue
		}
		name := fn.Name.Name
		if fn.Recv != nil && len(fn.Recv.List) > 0 {
			name = recvName(fn.Recv.List[0].Type) + "." + name
		}
		bad = append(bad, fmt.Sprintf("%s:%d: %s is %d lines", path, fset.Position(fn.Pos()).Line, name, n))
	}
	return bad, nil
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}
