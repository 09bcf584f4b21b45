package workload

// Classes of shared content.
const (
	classSystem = iota + 1
	classTools
	classDoc
)

// system starts a context with a Zipf-popular system prompt, or, for the
// sessions outside SystemPromptShare, a private one of the same length.
// (The draw is skipped at share 1 so that default traces keep their seeds.)
func (g *gen) system(c *ctx) {
	if s := g.cfg.SystemPromptShare; s < 1 && (s == 0 || g.r.Float64() >= s) {
		g.appendUnique(c, g.cfg.SystemPromptTokens)
		return
	}
	id := int(g.prompts.Uint64())
	g.appendShared(c, classSystem, id, g.cfg.SystemPromptTokens)
}

// chat: a multi-turn conversation; each turn re-sends the history.
func (g *gen) chat() {
	var c ctx
	g.system(&c)
	t := g.now
	turns := g.geometric(g.cfg.ChatTurns)
	for i := 0; i < turns; i++ {
		g.appendUnique(&c, g.exp(g.cfg.UserTokens))
		out := g.exp(g.cfg.OutputTokens)
		g.emit(t, &c, out)
		g.appendUnique(&c, out)
		t += g.r.ExpFloat64() * g.cfg.ThinkSeconds
	}
}

// agent: a tool-calling loop over a shared tool preamble; every step
// appends a call and its result and re-sends the context.
func (g *gen) agent() {
	var c ctx
	g.system(&c)
	g.appendShared(&c, classTools, 0, g.cfg.ToolSpecTokens)
	g.appendUnique(&c, g.exp(g.cfg.UserTokens))
	t := g.now
	steps := g.geometric(g.cfg.AgentSteps)
	for i := 0; i < steps; i++ {
		call := g.exp(g.cfg.ToolCallTokens)
		g.emit(t, &c, call)
		g.appendUnique(&c, call)
		g.appendUnique(&c, g.exp(g.cfg.ToolResultTokens))
		t += g.r.ExpFloat64() * g.cfg.ToolSeconds
	}
}

// sysPrompt: a single-turn request behind a shared system prompt.
func (g *gen) sysPrompt() {
	var c ctx
	g.system(&c)
	g.appendUnique(&c, g.exp(g.cfg.UserTokens))
	g.emit(g.now, &c, g.exp(g.cfg.OutputTokens))
}

// doc: a question about a Zipf-popular document behind a system prompt.
func (g *gen) doc() {
	var c ctx
	g.system(&c)
	g.appendShared(&c, classDoc, int(g.docs.Uint64()), g.cfg.DocTokens)
	g.appendUnique(&c, g.exp(g.cfg.UserTokens))
	g.emit(g.now, &c, g.exp(g.cfg.OutputTokens))
}
