// Package docvectors reads the test vectors that docs/*.md publish as
// markdown tables, so that tests check the code against the document
// itself and the two cannot drift apart. A table is found by the HTML
// comment `<!-- vectors: NAME -->` on a line before it. Test helper only:
// nothing outside _test.go files imports it.
package docvectors

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Row is one table row: cell text by column header.
type Row map[string]string

// Table returns the rows of the table marked `<!-- vectors: name -->` in
// the markdown file at path. Cells are trimmed; backquotes around a cell
// are removed.
func Table(path, name string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	marker := "<!-- vectors: " + name + " -->"
	found := false
	var header []string
	var rows []Row
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !found {
			found = line == marker
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if header == nil && line == "" {
				continue
			}
			break
		}
		cells := split(line)
		switch {
		case header == nil:
			header = cells
		case strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// the |---|---| separator
		default:
			if len(cells) != len(header) {
				return nil, fmt.Errorf("%s: vectors %q: row %q has %d cells, header %d", path, name, line, len(cells), len(header))
			}
			r := Row{}
			for i, h := range header {
				r[h] = cells[i]
			}
			rows = append(rows, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s: no %q marker", path, marker)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: vectors %q: empty table", path, name)
	}
	return rows, nil
}

func split(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	parts := strings.Split(line, "|")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), "`")
	}
	return parts
}

// Doc is the path of docs/<name> from a package directory of this module
// (tests run in their package's directory).
func Doc(name string) string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "docs", name)
		}
		if filepath.Dir(d) == d {
			return filepath.Join("docs", name)
		}
	}
}
