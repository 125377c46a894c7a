package blockmax

// Exported for tests.
var (
	ScaleFor = scaleFor
	CodeFor  = codeFor
)
