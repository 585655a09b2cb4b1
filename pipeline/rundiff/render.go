package rundiff

import (
	"encoding/json"
	"fmt"
)

// JSON returns the diff as indented JSON with a trailing newline; decoding
// it into a Diff gives the same Diff back.
func (d Diff) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode run diff: %w", err)
	}
	return append(b, '\n'), nil
}
