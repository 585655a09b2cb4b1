package sqldb

import (
	"fmt"
	"regexp"
)

var validPrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// CheckTablePrefix accepts a table-name prefix of lower-case letters,
// digits and underscores, starting with a letter, at most 31 characters:
// safe to splice into SQL on every dialect. The SQL stores share it.
func CheckTablePrefix(prefix string) error {
	if !validPrefix.MatchString(prefix) {
		return fmt.Errorf("table prefix %q: want [a-z][a-z0-9_]*, at most 31 characters", prefix)
	}
	return nil
}
