package blockmax

// Exported for tests.
var (
	ScaleFor = scaleFor
	CodeFor  = codeFor
)

// SetExhaustiveBelow sets the collection size up to which Search scores
// exhaustively and returns a function that restores it.
func SetExhaustiveBelow(n int) func() {
	old := exhaustiveBelow
	exhaustiveBelow = n
	return func() { exhaustiveBelow = old }
}
