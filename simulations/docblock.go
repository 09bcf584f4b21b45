package simulations

import (
	"errors"
	"fmt"
	"regexp"
)

// ErrDocBlock: a document's generated blocks are malformed or missing.
var ErrDocBlock = errors.New("simulations: document block")

// Generated tables sit in blocks of a Markdown document,
//
//	<!-- sim:ID -->          (written by `stratacache sim -suite`)
//	<!-- test:ID -->         (written by a go test run with a flag)
//	...
//	<!-- /sim:ID -->
//
// so that the prose around them stays hand-written.
var blockRE = regexp.MustCompile(`(?s)<!-- (sim|test):([a-z0-9-]+) -->\n(.*?)<!-- /(sim|test):([a-z0-9-]+) -->`)

// DocBlock is one generated block of a document.
type DocBlock struct {
	Kind, ID   string // "sim" or "test", and the block's name
	Start, End int    // the body's byte range in the document
	Body       string
}

// DocBlocks lists the generated blocks of doc.
func DocBlocks(doc string) ([]DocBlock, error) {
	var out []DocBlock
	for _, m := range blockRE.FindAllStringSubmatchIndex(doc, -1) {
		b := DocBlock{Kind: doc[m[2]:m[3]], ID: doc[m[4]:m[5]], Start: m[6], End: m[7], Body: doc[m[6]:m[7]]}
		if ck, cid := doc[m[8]:m[9]], doc[m[10]:m[11]]; ck != b.Kind || cid != b.ID {
			return nil, fmt.Errorf("%w: block %s:%s closed as %s:%s", ErrDocBlock, b.Kind, b.ID, ck, cid)
		}
		out = append(out, b)
	}
	return out, nil
}

// ReplaceDocBlock returns doc with the body of block kind:id replaced.
func ReplaceDocBlock(doc, kind, id, body string) (string, error) {
	blocks, err := DocBlocks(doc)
	if err != nil {
		return "", err
	}
	for _, b := range blocks {
		if b.Kind == kind && b.ID == id {
			return doc[:b.Start] + body + doc[b.End:], nil
		}
	}
	return "", fmt.Errorf("%w: the document has no block %s:%s", ErrDocBlock, kind, id)
}
