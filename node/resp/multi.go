package resp

// transaction is a MULTI queue: commands copied out of the reader's
// buffers, run in order by EXEC. Clients such as redis-py wrap pipelines
// in MULTI/EXEC by default; the commands run one after another on this
// connection, not isolated from other connections (there is no WATCH).
type transaction struct {
	cmds   [][][]byte
	bytes  int64  // held against the in-flight budget until EXEC or DISCARD
	failed string // set when the queue overflowed: EXEC aborts
}

// releaseTx drops a transaction and gives back its budget (EXEC, DISCARD,
// the connection's end).
func (c *conn) releaseTx() {
	if c.tx != nil {
		c.s.cfg.Budget.Release(c.tx.bytes)
		c.tx = nil
	}
}

func (c *conn) multi() {
	if c.tx != nil {
		c.w.Error("ERR MULTI calls can not be nested")
		return
	}
	c.tx = &transaction{}
	c.w.OK()
}

// queue copies args into the transaction, within the per-request byte
// limit (a transaction is one request's worth of buffering).
func (c *conn) queue(args [][]byte) {
	tx := c.tx
	var n int64
	for _, a := range args {
		n += int64(len(a))
	}
	if tx.failed == "" && tx.bytes+n > c.s.cfg.Limits.MaxRequest {
		tx.failed = "transaction larger than the request limit"
	} else if tx.failed == "" {
		if err := c.s.cfg.Budget.Acquire(c.s.ctx, n); err != nil {
			tx.failed = "transaction refused: " + busyReply
		}
	}
	if tx.failed != "" && tx.cmds != nil {
		c.s.cfg.Budget.Release(tx.bytes)
		tx.cmds, tx.bytes = nil, 0
	}
	if tx.failed != "" {
		c.w.Error("ERR " + tx.failed)
		return
	}
	cp := make([][]byte, len(args))
	for i, a := range args {
		cp[i] = append([]byte(nil), a...)
	}
	tx.cmds = append(tx.cmds, cp)
	tx.bytes += n
	c.w.Simple("QUEUED")
}

// exec runs the queue: the reply is an array of the commands' replies,
// which is each command writing its own reply after the array header.
func (c *conn) exec() {
	tx := c.tx
	if tx == nil {
		c.w.Error("ERR EXEC without MULTI")
		return
	}
	defer c.s.cfg.Budget.Release(tx.bytes)
	c.tx = nil
	if tx.failed != "" {
		c.w.Error("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	c.w.Array(len(tx.cmds))
	for _, cmd := range tx.cmds {
		c.dispatch(cmd)
	}
}

func (c *conn) discard() {
	if c.tx == nil {
		c.w.Error("ERR DISCARD without MULTI")
		return
	}
	c.releaseTx()
	c.w.OK()
}
