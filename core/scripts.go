package core

import _ "embed"

// The scripts core runs, embedded from their .lua files; each file's
// header says what it does, what it returns, and why it is safe to repeat.
var (
	//go:embed acquire.lua
	acquireLua string
	//go:embed undo.lua
	undoLua string
	//go:embed release.lua
	releaseLua string
	//go:embed extend.lua
	extendLua string
	//go:embed fence.lua
	fenceLua string
	//go:embed handover.lua
	handoverLua string
	//go:embed inspect.lua
	inspectLua string
	//go:embed break.lua
	breakLua string

	acquireScript  = newScript("acquire", acquireLua)
	undoScript     = newScript("undo", undoLua)
	releaseScript  = newScript("release", releaseLua)
	extendScript   = newScript("extend", extendLua)
	fenceScript    = newScript("fence", fenceLua)
	handoverScript = newScript("handover", handoverLua)
	inspectScript  = newScript("inspect", inspectLua)
	breakScript    = newScript("break", breakLua)
)

// Scripts lists every script core runs, for adapters that load scripts
// ahead of use and for tests.
func Scripts() []*Script {
	return []*Script{acquireScript, undoScript, releaseScript, extendScript, fenceScript, handoverScript, inspectScript, breakScript}
}
