package resp

// globMatch reports whether key matches the glob pattern by Redis's rules
// (SCAN/KEYS MATCH, CONFIG GET), which are not path.Match's: '*' matches
// any run of bytes, '/' included; '?' any one byte; "[...]" a set of bytes
// ("[^...]" its complement, "a-z" a range, either order), in which '\'
// takes the next byte literally; '\' outside a set takes the next byte
// literally. Malformed patterns are not errors: an unterminated set ends
// at the pattern's end, a trailing '\' is a literal '\'. Bytes compare
// exactly (no case folding). TestGlobMatchesRedis checks this against
// redis-server on the same keys.
func globMatch(pattern, key []byte) bool {
	skip := false
	return globFrom(pattern, key, 0, &skip)
}

// maxGlobNesting bounds the recursion of '*' (one level per star): a
// pattern with more stars matches nothing, as in Redis.
const maxGlobNesting = 1000

// globFrom matches p against s. skip is set once a '*' has tried every
// suffix of the key and failed: an outer '*' trying a shorter prefix
// cannot succeed either (an inner star already saw every longer suffix),
// which keeps patterns like "*a*a*a*b" polynomial.
func globFrom(p, s []byte, nesting int, skip *bool) bool {
	if nesting > maxGlobNesting {
		return false
	}
	// at reads the pattern with a NUL past its end, as the C original's
	// terminated string does; the checks below rely on that.
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	pi, si := 0, 0
	for pi < len(p) && si < len(s) {
		switch p[pi] {
		case '*':
			for pi+1 < len(p) && p[pi+1] == '*' {
				pi++
			}
			if pi == len(p)-1 {
				return true
			}
			for si < len(s) {
				if globFrom(p[pi+1:], s[si:], nesting+1, skip) {
					return true
				}
				if *skip {
					return false
				}
				si++
			}
			*skip = true
			return false
		case '?':
			si++
		case '[':
			pi++
			negate := at(pi) == '^'
			if negate {
				pi++
			}
			match := false
			for {
				if at(pi) == '\\' && len(p)-pi >= 2 {
					pi++
					if p[pi] == s[si] {
						match = true
					}
				} else if at(pi) == ']' {
					break
				} else if pi >= len(p) {
					pi-- // unterminated: the step below lands on the end
					break
				} else if len(p)-pi >= 3 && p[pi+1] == '-' {
					lo, hi := p[pi], p[pi+2]
					if lo > hi {
						lo, hi = hi, lo
					}
					pi += 2
					if c := s[si]; c >= lo && c <= hi {
						match = true
					}
				} else if p[pi] == s[si] {
					match = true
				}
				pi++
			}
			if negate {
				match = !match
			}
			if !match {
				return false
			}
			si++
		case '\\':
			if len(p)-pi >= 2 {
				pi++
			}
			fallthrough
		default:
			if p[pi] != s[si] {
				return false
			}
			si++
		}
		pi++
		if si == len(s) {
			for at(pi) == '*' {
				pi++
			}
			break
		}
	}
	return pi >= len(p) && si == len(s)
}
