package clientsdktest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// Server is a fake node: a map from artifact key to payload behind the
// native protocol. Safe for concurrent use.
type Server struct {
	// Token, when set, must be presented in HELLO (and PEER_HELLO).
	Token string
	// NoPrefetch answers OP_PEER_PREFETCH "unsupported", as a node's
	// client port does.
	NoPrefetch bool

	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	data     map[string][]byte
	warm     map[string]bool
	fail     []string // error codes to answer the next requests with
	hold     chan struct{}
	ops      map[messages.Op]int
	conns    map[net.Conn]struct{}
	closed   bool
	dropNext int // connections to close right after reading a request
	accepted int
	settings map[string]string
}

// SetSettings adds attrs to the HELLO replies of connections made from
// now on (chunk_size, max_payload, hash_scheme, ...: what a node
// announces).
func (s *Server) SetSettings(attrs map[string]string) {
	s.mu.Lock()
	s.settings = attrs
	s.mu.Unlock()
}

// Accepted is how many connections the server has accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Start listens on a loopback port and serves until Close.
func Start() (*Server, error) { return StartAt("127.0.0.1:0") }

// StartAt listens on addr (a node that comes back on its old address)
// and serves until Close.
func StartAt(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, data: map[string][]byte{}, warm: map[string]bool{}, ops: map[messages.Op]int{},
		conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes every connection; safe twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// FailNext answers the next len(codes) data requests with OP_ERROR of
// those codes, in order.
func (s *Server) FailNext(codes ...string) {
	s.mu.Lock()
	s.fail = append(s.fail, codes...)
	s.mu.Unlock()
}

// DropNext closes the next n connections right after reading a request,
// without answering (a node that died mid-request).
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	s.dropNext += n
	s.mu.Unlock()
}

// Hold makes data requests block until the returned release is called.
func (s *Server) Hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold == ch {
				close(ch)
				s.hold = nil
			}
			s.mu.Unlock()
		})
	}
}

// Ops is how many requests of op the server has answered.
func (s *Server) Ops(op messages.Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops[op]
}

// Has reports whether key (namespace:key) is stored.
func (s *Server) Has(ns uint8, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.data[mapKey(ns, key)]
	return ok
}

// Warm reports whether key was prefetched (OP_PEER_PREFETCH).
func (s *Server) Warm(ns uint8, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warm[mapKey(ns, key)]
}

func mapKey(ns uint8, key string) string { return strconv.Itoa(int(ns)) + ":" + key }

func idKey(id *messages.ArtifactID) string {
	return mapKey(uint8(id.GetNamespace()), string(id.GetKey()))
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

type conn struct {
	nc      net.Conn
	fr      *frame.Reader
	scratch []byte
}

func (c *conn) reply(h *messages.FrameHeader, payload ...[]byte) error {
	if h.Op == 0 {
		h.Op = messages.Op_OP_REPLY
	}
	var err error
	c.scratch, err = frame.Write(c.nc, c.scratch, h, payload...)
	return err
}

func (c *conn) fail(id uint64, code, msg string) error {
	return c.reply(&messages.FrameHeader{RequestId: id, Op: messages.Op_OP_ERROR, ErrorCode: code, Error: msg})
}

var errClose = errors.New("close")

func (s *Server) serve(nc net.Conn) {
	c := &conn{nc: nc, fr: frame.NewReader(bufio.NewReaderSize(nc, 64<<10), frame.DefaultLimits())}
	var h messages.FrameHeader
	hello := false
	for {
		p, err := c.fr.Next(&h)
		if err != nil {
			return
		}
		if err := s.handle(c, &h, p, &hello); err != nil {
			return
		}
	}
}

func (s *Server) handle(c *conn, h *messages.FrameHeader, p frame.Prefix, hello *bool) error {
	id := h.RequestId
	if !*hello {
		if h.Op != messages.Op_OP_HELLO && h.Op != messages.Op_OP_PEER_HELLO {
			_ = c.fail(id, "auth", "the first frame must be HELLO")
			return errClose
		}
		if s.Token != "" && string(h.AuthToken) != s.Token {
			_ = c.fail(id, "auth", "bad token")
			return errClose
		}
		*hello = true
		attrs := map[string]string{"server": "clientsdktest", "version": "1"}
		s.mu.Lock()
		for k, v := range s.settings {
			attrs[k] = v
		}
		s.mu.Unlock()
		return c.reply(&messages.FrameHeader{RequestId: id, NodeName: "fake", Attrs: attrs})
	}
	// Read the payload first: faults act on complete requests.
	payload := make([]byte, p.PayloadLen)
	if err := c.fr.ReadPayload(payload); err != nil {
		return err
	}
	s.mu.Lock()
	s.ops[h.Op]++
	if s.dropNext > 0 {
		s.dropNext--
		s.mu.Unlock()
		return errClose
	}
	var code string
	if len(s.fail) > 0 {
		code, s.fail = s.fail[0], s.fail[1:]
	}
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if code != "" {
		if err := c.fail(id, code, "injected"); err != nil {
			return err
		}
		if code == "busy" || code == "auth" || code == "protocol" {
			return errClose
		}
		return nil
	}
	return s.op(c, h, payload)
}

func (s *Server) op(c *conn, h *messages.FrameHeader, payload []byte) error {
	id := h.RequestId
	one := func() (string, bool) {
		if len(h.Ids) != 1 || len(h.Ids[0].GetKey()) == 0 {
			return "", false
		}
		return idKey(h.Ids[0]), true
	}
	status := func(f func(k string) bool) error {
		out := make([]byte, len(h.Ids))
		s.mu.Lock()
		for i, x := range h.Ids {
			if f(idKey(x)) {
				out[i] = 1
			}
		}
		s.mu.Unlock()
		return c.reply(&messages.FrameHeader{RequestId: id}, out)
	}
	switch h.Op {
	case messages.Op_OP_PING:
		return c.reply(&messages.FrameHeader{RequestId: id})
	case messages.Op_OP_PUT:
		k, ok := one()
		if !ok {
			return c.fail(id, "invalid_argument", "one id")
		}
		s.mu.Lock()
		s.data[k] = payload
		s.mu.Unlock()
		return c.reply(&messages.FrameHeader{RequestId: id})
	case messages.Op_OP_GET:
		k, ok := one()
		if !ok {
			return c.fail(id, "invalid_argument", "one id")
		}
		s.mu.Lock()
		b, found := s.data[k]
		if found {
			s.warm[k] = true // a read promotes, as the node's chain does
		}
		s.mu.Unlock()
		if !found {
			return c.fail(id, "not_found", k)
		}
		return c.reply(&messages.FrameHeader{RequestId: id, Meta: &messages.Metadata{Length: int64(len(b))}}, b)
	case messages.Op_OP_EXISTS, messages.Op_OP_MEXISTS:
		return status(func(k string) bool { _, ok := s.data[k]; return ok })
	case messages.Op_OP_DELETE:
		return status(func(k string) bool { _, ok := s.data[k]; delete(s.data, k); return ok })
	case messages.Op_OP_MPUT:
		if len(h.PayloadLengths) != len(h.Ids) {
			_ = c.fail(id, "protocol", "lengths")
			return errClose
		}
		out := make([]byte, len(h.Ids))
		s.mu.Lock()
		off := uint64(0)
		for i, x := range h.Ids {
			n := h.PayloadLengths[i]
			s.data[idKey(x)] = payload[off : off+n]
			off += n
			out[i] = 1
		}
		s.mu.Unlock()
		return c.reply(&messages.FrameHeader{RequestId: id}, out)
	case messages.Op_OP_MGET:
		lens := make([]uint64, len(h.Ids))
		var pieces [][]byte
		var missing []string
		s.mu.Lock()
		for i, x := range h.Ids {
			if b, ok := s.data[idKey(x)]; ok {
				lens[i] = uint64(len(b))
				pieces = append(pieces, b)
			} else {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		s.mu.Unlock()
		r := &messages.FrameHeader{RequestId: id, PayloadLengths: lens}
		if len(missing) > 0 {
			r.Attrs = map[string]string{"missing": strings.Join(missing, ",")}
		}
		if len(h.Ids) == 0 {
			r.PayloadLengths = nil
		}
		return c.reply(r, pieces...)
	case messages.Op_OP_PEER_PREFETCH:
		if s.NoPrefetch {
			return c.fail(id, "unsupported", "prefetch")
		}
		warmed := 0
		s.mu.Lock()
		for _, x := range h.Ids {
			if _, ok := s.data[idKey(x)]; ok {
				s.warm[idKey(x)] = true
				warmed++
			}
		}
		s.mu.Unlock()
		return c.reply(&messages.FrameHeader{RequestId: id, Attrs: map[string]string{"warmed": strconv.Itoa(warmed)}})
	}
	return c.fail(id, "unsupported", h.Op.String())
}

var _ io.Closer = (*Server)(nil)
