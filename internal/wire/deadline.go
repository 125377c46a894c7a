package wire

import (
	"strconv"
	"time"
)

// BudgetHeader is the NATS header that carries a request's deadline as the
// time left when it was sent, in milliseconds: relative, so that clock skew
// between machines does not matter. A node stops waiting for a read or a
// proposal when the budget is spent, since the caller no longer listens.
const BudgetHeader = "Shoal-Budget-Ms"

// FormatBudget returns the BudgetHeader value for the time left until dl.
func FormatBudget(dl time.Time) string {
	return strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10)
}

// ParseBudget reads a BudgetHeader value; ok is false when v is empty or
// malformed.
func ParseBudget(v string) (d time.Duration, ok bool) {
	ms, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err != nil || ms <= 0 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// AckHeader, set on a write request, asks the leader to acknowledge receipt
// at once with an empty message carrying the same header, before its final
// answer to the same reply subject. A caller can then give up quickly on a
// leader that does not answer at all (paused, cut off) without abandoning a
// slow one that is working.
const AckHeader = "Shoal-Ack"
